import type { Server } from 'socket.io';
import { checkChat, checkName } from './limits.js';
import type { ChatAck, ChatMessage, JoinAck, Refusal, ServerToClientEvents } from './protocol.js';
import { TokenBucket } from './rate-limit.js';
import type { RedisLink } from './redis-link.js';

/** What arrives from the network: shaped like ClientToServerEvents only if the client behaves. */
export interface UntrustedClientEvents {
  join: (name: unknown, ack?: unknown) => void;
  chat: (message: unknown, ack?: unknown) => void;
}

export type ChatServer = Server<UntrustedClientEvents, ServerToClientEvents>;

export interface ChatOptions {
  node: string;
  channel: string;
  rate: { perSecond: number; burst: number };
  link: RedisLink;
}

function reply<T extends JoinAck | ChatAck>(ack: unknown, result: T): void {
  if (typeof ack === 'function') (ack as (r: T) => void)(result);
}

export function attachChat(io: ChatServer, { node, channel, rate, link }: ChatOptions): void {
  const startedAt = Date.now();
  let counter = 0;

  // Messages accepted in one turn of the event loop go out together after it (setImmediate
  // runs right after the poll phase that read them): at low load that is one message and no
  // delay worth measuring; under load, one broadcast carries many.
  let pending: ChatMessage[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    if (batch.length === 1) io.emit('chat', batch[0]!);
    else io.emit('chats', batch);
  };
  const broadcast = (message: ChatMessage) => {
    if (pending.push(message) === 1) setImmediate(flush);
  };

  // Local only: with Redis down, a broadcast through the adapter would try to publish anyway, and
  // the other servers announce their own link state to their own clients.
  link.onChange((redis) => io.local.emit('status', { node, redis }));

  io.on('connection', (socket) => {
    const bucket = new TokenBucket(rate.perSecond, rate.burst);
    // A session recovered by the streams backplane (connection state recovery) comes back with its
    // socket.data: the name chosen before the drop still holds, the client need not join again.
    let name: string | undefined = typeof socket.data?.name === 'string' ? (socket.data.name as string) : undefined;

    socket.emit('welcome', { node, channel, redis: link.state() });

    const refuse = (ack: unknown, refusal: Refusal) => {
      socket.emit('notice', { code: refusal.code, text: refusal.error });
      reply(ack, refusal);
    };

    socket.on('join', (raw, ack) => {
      const checked = checkName(raw);
      if (!checked.ok) return refuse(ack, checked);
      name = checked.value;
      socket.data = { ...socket.data, name };
      reply<JoinAck>(ack, { ok: true, node, name });
    });

    socket.on('chat', (raw, ack) => {
      // Every attempt costs a token, refused ones included, so a flood of bad requests is limited too.
      if (!bucket.take()) {
        return refuse(ack, { ok: false, code: 'rate_limited', error: 'Slow down: too many messages, this one was not sent.' });
      }
      if (name === undefined) {
        return refuse(ack, { ok: false, code: 'not_joined', error: 'Choose a name before sending messages.' });
      }
      const checked = checkChat(raw);
      if (!checked.ok) return refuse(ack, checked);
      const message: ChatMessage = {
        id: `${node}-${startedAt}-${++counter}`,
        name,
        text: checked.value,
        origin: node,
        sentAt: Date.now(),
      };
      // The ack goes out before the broadcast on the same connection, so the sender learns the id
      // before its own copy arrives and the page can mark that copy as its own.
      reply<ChatAck>(ack, { ok: true, id: message.id });
      broadcast(message);
    });
  });
}
