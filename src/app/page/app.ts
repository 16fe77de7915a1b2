/**
 * The chat page. Every piece of text from the network goes into the DOM through textContent or a
 * data-* attribute, never as markup, so a message such as `<img onerror=...>` shows as those characters.
 */
import { io, type Socket } from 'socket.io-client';
import {
  MAX_NAME_LENGTH,
  MAX_TEXT_LENGTH,
  type ChatAck,
  type ChatMessage,
  type ClientToServerEvents,
  type JoinAck,
  type RedisLinkState,
  type ServerToClientEvents,
} from '../protocol.js';

type ConnectionState = 'connected' | 'reconnecting' | 'disconnected';

/** Older messages are dropped from the page past this, so a long session stays responsive. */
const MAX_RENDERED = 500;
const ACK_TIMEOUT_MS = 5000;
const NAME_KEY = 'lab-chat-name';

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

const ui = {
  serverName: byId('server-name'),
  connectionState: byId('connection-state'),
  redisState: byId('redis-state'),
  joinView: byId('join-view'),
  joinForm: byId<HTMLFormElement>('join-form'),
  nameInput: byId<HTMLInputElement>('name-input'),
  joinButton: byId<HTMLButtonElement>('join-button'),
  joinError: byId('join-error'),
  chatView: byId('chat-view'),
  messages: byId<HTMLOListElement>('messages'),
  notice: byId('notice'),
  sendForm: byId<HTMLFormElement>('send-form'),
  messageInput: byId<HTMLInputElement>('message-input'),
  charCount: byId('char-count'),
};

// Same origin, default path and transports: long-polling first, then the upgrade to WebSocket,
// which also gets through proxies (and iisnode set-ups) where a direct WebSocket would not.
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({ reconnection: true });

let serverNode: string | undefined;
/** the name accepted by the server; kept across reconnects so the page can re-join by itself */
let myName: string | undefined;
/** a server forgets the name when the connection drops: each new connection must join again */
let joinedThisConnection = false;
/** ids acknowledged to this page; the server acks before it broadcasts, so they are known in time */
const ownIds = new Set<string>();

function setConnection(state: ConnectionState): void {
  ui.connectionState.textContent = state;
  ui.connectionState.dataset.state = state;
}

function setRedis(state: RedisLinkState): void {
  ui.redisState.textContent = state;
  ui.redisState.dataset.state = state;
}

function showNotice(text: string): void {
  ui.notice.textContent = text;
}

socket.on('connect', () => {
  // After a reconnect the page reads "connected" only once the name is accepted again, so that
  // whenever it says connected, a message typed now is sent.
  if (myName === undefined) setConnection('connected');
  else rejoin(myName);
});

socket.on('disconnect', () => {
  joinedThisConnection = false;
  // `active` is false only when the client will not retry by itself (the server sent it away).
  setConnection(socket.active ? 'reconnecting' : 'disconnected');
});

socket.on('connect_error', () => {
  setConnection(socket.active ? 'reconnecting' : 'disconnected');
});

socket.on('welcome', (welcome) => {
  serverNode = welcome.node;
  ui.serverName.textContent = welcome.node;
  document.title = `Lab chat · ${welcome.node}`;
  setRedis(welcome.redis);
});

socket.on('status', (status) => setRedis(status.redis));

socket.on('notice', (notice) => showNotice(notice.text));

socket.on('chat', (message) => {
  if (isChatMessage(message)) renderMessage(message);
});
socket.on('chats', (messages) => {
  if (Array.isArray(messages)) for (const m of messages) if (isChatMessage(m)) renderMessage(m);
});

function isChatMessage(m: unknown): m is ChatMessage {
  const c = m as Partial<ChatMessage> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.id === 'string' &&
    typeof c.name === 'string' &&
    typeof c.text === 'string' &&
    typeof c.origin === 'string' &&
    typeof c.sentAt === 'number'
  );
}

// ---- joining ----

const savedName = readSavedName();
if (savedName) ui.nameInput.value = savedName;
ui.nameInput.focus();

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.nameInput.value.trim();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    ui.joinError.textContent = `Please enter a name of 1 to ${MAX_NAME_LENGTH} characters.`;
    return;
  }
  ui.joinError.textContent = '';
  ui.joinButton.disabled = true;
  socket.timeout(ACK_TIMEOUT_MS).emit('join', name, (err: Error | null, result: JoinAck) => {
    ui.joinButton.disabled = false;
    if (err) {
      ui.joinError.textContent = 'The server did not answer. Check the connection state above and try again.';
      return;
    }
    if (!result.ok) {
      ui.joinError.textContent = result.error;
      return;
    }
    myName = result.name;
    joinedThisConnection = true;
    saveName(result.name);
    ui.joinView.hidden = true;
    ui.chatView.hidden = false;
    ui.messageInput.focus();
  });
});

function rejoin(name: string): void {
  socket.timeout(ACK_TIMEOUT_MS).emit('join', name, (err: Error | null, result: JoinAck) => {
    if (!socket.connected) return; // dropped again meanwhile; the next connect retries
    setConnection('connected');
    if (err || !result.ok) {
      showNotice('Reconnected, but the server did not accept your name again. Reload the page to rejoin.');
      return;
    }
    joinedThisConnection = true;
    if (ui.notice.dataset.kind === 'offline') clearNotice();
  });
}

// ---- sending ----

function clearNotice(): void {
  ui.notice.textContent = '';
  delete ui.notice.dataset.kind;
}

ui.messageInput.addEventListener('input', updateCharCount);

function updateCharCount(): void {
  const length = ui.messageInput.value.length;
  // Shown only near the limit: a counter on every short message is noise.
  ui.charCount.textContent = length >= MAX_TEXT_LENGTH * 0.8 ? `${length}/${MAX_TEXT_LENGTH}` : '';
  ui.charCount.classList.toggle('over', length > MAX_TEXT_LENGTH);
}

ui.sendForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.messageInput.value;
  if (text.trim().length === 0) return;
  if (!socket.connected || !joinedThisConnection) {
    // socket.io would buffer the event and send it before the re-join, where it would be refused;
    // keeping the text in the box lets the person send it again once the state says connected.
    showNotice('Not connected right now. Your message is still in the box; send it again once connected.');
    ui.notice.dataset.kind = 'offline';
    return;
  }
  ui.messageInput.value = '';
  updateCharCount();
  socket.timeout(ACK_TIMEOUT_MS).emit('chat', { text }, (err: Error | null, result: ChatAck) => {
    if (!err && result.ok) {
      ownIds.add(result.id);
      clearNotice();
      return;
    }
    // The server's notice event has already said why; give the text back so nothing typed is lost.
    if (ui.messageInput.value === '') {
      ui.messageInput.value = text;
      updateCharCount();
    }
    if (err) showNotice('The server did not confirm this message; it may not have been sent.');
  });
});

// ---- rendering ----

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderMessage(m: ChatMessage): void {
  const own = ownIds.delete(m.id);
  const list = ui.messages;
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;

  const item = el('li', own ? 'message own' : 'message');
  item.dataset.id = m.id;
  item.dataset.origin = m.origin;
  item.dataset.sender = m.name;
  item.dataset.own = String(own);
  item.style.setProperty('--sender-hue', String(hueOf(m.name)));

  const meta = el('div', 'message-meta');
  meta.append(el('span', 'message-sender', m.name));
  const origin = el('span', 'message-origin', `via ${m.origin}`);
  if (serverNode !== undefined && m.origin !== serverNode) {
    // Delivered to this server through Redis: the backplane at work, worth a second colour.
    origin.classList.add('remote');
    origin.title = `sent to ${m.origin}, relayed to ${serverNode} through Redis`;
  } else {
    origin.title = `sent to ${m.origin}`;
  }
  meta.append(origin);
  const sentAt = new Date(m.sentAt);
  const time = el('time', 'message-time', timeFormat.format(sentAt));
  time.dateTime = sentAt.toISOString();
  time.title = sentAt.toLocaleString();
  meta.append(time);

  item.append(meta, el('p', 'message-text', m.text));
  list.append(item);
  while (list.childElementCount > MAX_RENDERED) list.firstElementChild?.remove();
  if (own || nearBottom) item.scrollIntoView({ block: 'end' });
}

/** A stable colour per sender name, so a busy conversation is easy to follow. */
function hueOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % 360;
}

function readSavedName(): string | null {
  try {
    return localStorage.getItem(NAME_KEY);
  } catch {
    return null; // storage blocked (private mode, policies): just start with an empty box
  }
}

function saveName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // not remembering the name is harmless
  }
}
