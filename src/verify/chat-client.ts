import { io, type Socket } from 'socket.io-client';

import type { ChatMessage } from '../app/protocol.js';

export type { ChatMessage };

export type ChatAck = { ok: true; id?: string; node?: string; name?: string } | { ok: false; code?: string; error: string };

/** A chat participant on one web node, as the page would be, for checks and benchmarks. */
export class ChatClient {
  readonly socket: Socket;
  node?: string;

  /**
   * reconnect: come back after a drop as the page does (fault runs), quickly, for as long as it takes.
   * cookies: keep the cookies the server sets, as a browser does (a load balancer's sticky-session
   * cookie: without it each long-polling request may reach another server, which knows no such session).
   */
  constructor(
    readonly url: string,
    readonly label: string,
    { reconnect = false, cookies = false }: { reconnect?: boolean; cookies?: boolean } = {},
  ) {
    this.socket = io(url, {
      // in Node, engine.io-client keeps a cookie jar only with withCredentials
      withCredentials: cookies,
      reconnection: reconnect,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      randomizationFactor: 0.2,
      forceNew: true,
      timeout: 5000,
      transports: ['polling', 'websocket'],
    });
  }

  /** Connects and waits until the connection is upgraded to WebSocket. */
  async connect(timeoutMs = 5000): Promise<void> {
    const s = this.socket;
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        const done = () => resolve();
        const engineUpgraded = () => s.io.engine?.transport?.name === 'websocket';
        s.once('connect_error', (err) => reject(new Error(`cannot connect to ${this.url}: ${err.message}`)));
        s.once('connect', () => {
          if (engineUpgraded()) return done();
          s.io.engine.once('upgrade', () => done());
          s.io.engine.once('upgradeError', (err: Error) => reject(new Error(`WebSocket upgrade failed at ${this.url}: ${err.message}`)));
        });
      }),
      timeoutMs,
      `no WebSocket connection to ${this.url} within ${timeoutMs} ms`,
    );
  }

  transport(): string | undefined {
    return this.socket.io.engine?.transport?.name;
  }

  async join(name: string, timeoutMs = 3000): Promise<ChatAck> {
    const ack = await withTimeout(this.socket.timeout(timeoutMs).emitWithAck('join', name) as Promise<ChatAck>, timeoutMs + 500, `join on ${this.url} got no answer`);
    if (ack.ok) this.node = ack.node;
    return ack;
  }

  send(text: string, timeoutMs = 5000): Promise<ChatAck> {
    return this.socket.timeout(timeoutMs).emitWithAck('chat', { text }) as Promise<ChatAck>;
  }

  /** every message, whether it came alone ("chat") or with others of the same server turn ("chats") */
  onChat(fn: (m: ChatMessage) => void): void {
    this.socket.on('chat', fn);
    this.socket.on('chats', (batch: ChatMessage[]) => {
      for (const m of batch) fn(m);
    });
  }

  close(): void {
    this.socket.close();
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
