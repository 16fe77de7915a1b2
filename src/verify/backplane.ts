import notepack from 'notepack.io';
import type { Redis } from 'ioredis';
import { checkClient, type RedisTarget } from './redis-probe.js';

export interface BackplaneMessage {
  at: Date;
  channel: string;
  /** broadcast: a packet for every server's clients; request/response: servers asking each other */
  kind: 'broadcast' | 'request' | 'response' | 'other';
  /** the adapter's random id of the publishing server */
  serverUid?: string;
  event?: string;
  /** the chat app names the server that accepted a message in its payload */
  origin?: string;
  payload?: unknown;
  /** the chat messages it carries: one for "chat", several for "chats" */
  chats?: { name?: string; text?: string; origin?: string }[];
  size: number;
}

/** The channels @socket.io/redis-adapter uses for the default namespace, with the spec's channel as key. */
export function adapterChannels(channel: string) {
  return {
    broadcastPattern: `${channel}#*`,
    request: `${channel}-request#/#`,
    response: `${channel}-response#/#`,
  };
}

/** Decodes one message the adapter published (MessagePack, sometimes JSON). */
export function decodeBackplaneMessage(key: string, channel: string, raw: Buffer): BackplaneMessage {
  const base = { at: new Date(), channel, size: raw.length };
  const kind = channel.startsWith(`${key}-request#`) ? 'request' : channel.startsWith(`${key}-response#`) ? 'response' : channel.startsWith(`${key}#`) ? 'broadcast' : 'other';
  let decoded: unknown;
  try {
    decoded = notepack.decode(raw);
  } catch {
    try {
      decoded = JSON.parse(raw.toString('utf8'));
    } catch {
      return { ...base, kind, payload: raw.toString('utf8') };
    }
  }
  if (kind === 'broadcast' && Array.isArray(decoded)) {
    const [uid, packet] = decoded as [string, { data?: unknown[] }];
    const data = Array.isArray(packet?.data) ? packet.data : [];
    const [event, payload] = data as [string | undefined, unknown];
    const chats = event === 'chat' ? [payload] : event === 'chats' && Array.isArray(payload) ? payload : undefined;
    const first = chats?.[0] as { origin?: unknown } | undefined;
    const origin = first && typeof first === 'object' && 'origin' in first ? String(first.origin) : undefined;
    return { ...base, kind, serverUid: String(uid), event, origin, payload, ...(chats ? { chats: chats as BackplaneMessage['chats'] } : {}) };
  }
  if (decoded && typeof decoded === 'object' && 'uid' in decoded) {
    return { ...base, kind, serverUid: String((decoded as { uid: unknown }).uid), payload: decoded };
  }
  return { ...base, kind, payload: decoded };
}

/** A subscriber on every backplane channel of the lab, as the seed's redis-cli step. */
export class BackplaneTap {
  private readonly client: Redis;
  private readonly listeners: ((m: BackplaneMessage) => void)[] = [];

  constructor(
    target: RedisTarget,
    private readonly key: string,
  ) {
    this.client = checkClient(target, 3000);
    this.client.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => this.emit(channel.toString(), message));
    this.client.on('messageBuffer', (channel: Buffer, message: Buffer) => this.emit(channel.toString(), message));
  }

  private emit(channel: string, message: Buffer): void {
    const decoded = decodeBackplaneMessage(this.key, channel, message);
    for (const l of this.listeners) l(decoded);
  }

  onMessage(fn: (m: BackplaneMessage) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    await this.client.connect();
    const ch = adapterChannels(this.key);
    await this.client.psubscribe(ch.broadcastPattern, `${this.key}-request#*`, `${this.key}-response#*`);
  }

  async stop(): Promise<void> {
    this.client.disconnect();
  }
}

/** How many servers listen on the adapter's request channel: one per running web node. */
export async function subscribedServers(redis: Redis, key: string): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'NUMSUB', adapterChannels(key).request)) as [string, number];
  return Number(reply[1]);
}
