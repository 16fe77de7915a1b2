/**
 * The wire contract between the chat server, the page and labctl's verify/watch/browser checks.
 * The page bundles this module too, so it holds only types and constants (no Node imports).
 */

/** Names are trimmed first, then measured. */
export const MAX_NAME_LENGTH = 64;

/**
 * Measured in UTF-16 code units (JavaScript `String.length`), the unit HTML's `maxlength` uses,
 * so the page's input limit and the server's refusal agree to the character.
 */
export const MAX_TEXT_LENGTH = 1000;

export type RedisLinkState = 'connected' | 'connecting' | 'reconnecting' | 'disconnected';

export type RefusalCode = 'too_long' | 'rate_limited' | 'not_joined' | 'empty' | 'bad_request';

export interface ChatMessage {
  /** unique across nodes: `${origin}-${serverStartTime}-${counter}` */
  id: string;
  name: string;
  text: string;
  /** NODE_NAME of the server that accepted the message */
  origin: string;
  /** the accepting server's Date.now() */
  sentAt: number;
}

export interface Welcome {
  node: string;
  channel: string;
  redis: RedisLinkState;
}

/** Sent to the local clients of a server whenever its Redis link changes state. */
export interface StatusUpdate {
  node: string;
  redis: RedisLinkState;
}

export interface Notice {
  code: RefusalCode;
  text: string;
}

export interface Refusal {
  ok: false;
  code: RefusalCode;
  error: string;
}

export type JoinAck = { ok: true; node: string; name: string } | Refusal;
export type ChatAck = { ok: true; id: string } | Refusal;

export interface ChatRequest {
  text: string;
}

/** What a well-behaved client (the page, verify) sends. */
export interface ClientToServerEvents {
  join: (name: string, ack: (result: JoinAck) => void) => void;
  chat: (message: ChatRequest, ack: (result: ChatAck) => void) => void;
}

export interface ServerToClientEvents {
  welcome: (welcome: Welcome) => void;
  /** one message accepted alone in its turn of the server's event loop */
  chat: (message: ChatMessage) => void;
  /**
   * several messages a server accepted in the same turn of its event loop, in order: one
   * frame per client and one Redis publish for all of them, which is what keeps the
   * backplane's cost per message low under load. Never sent for a single message.
   */
  chats: (messages: ChatMessage[]) => void;
  notice: (notice: Notice) => void;
  status: (status: StatusUpdate) => void;
}

export interface HealthReport {
  node: string;
  channel: string;
  redis: RedisLinkState;
  /** sockets connected to this server (not the whole cluster) */
  clients: number;
  uptimeMs: number;
  pid: number;
  /**
   * which build runs: the sha256 (hex) of the server bundle file this process started from,
   * read at start (labctl verify compares it with the dist/app/server.cjs it built)
   */
  build: string;
}
