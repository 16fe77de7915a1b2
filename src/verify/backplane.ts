import notepack from 'notepack.io';
import type { Redis } from 'ioredis';
import { streamsKeys } from '../spec/backplane-keys.js';
import type { Backplane } from '../spec/types.js';
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
    return { ...base, kind, serverUid: String(uid), ...describePacket(packet) };
  }
  if (decoded && typeof decoded === 'object' && 'uid' in decoded) {
    return { ...base, kind, serverUid: String((decoded as { uid: unknown }).uid), payload: decoded };
  }
  return { ...base, kind, payload: decoded };
}

/** The event a socket.io packet carries and, for the chat's own events, its messages. */
export function describePacket(packet: { data?: unknown[] } | undefined): Pick<BackplaneMessage, 'event' | 'origin' | 'payload' | 'chats'> {
  const data = Array.isArray(packet?.data) ? packet.data : [];
  const [event, payload] = data as [string | undefined, unknown];
  const chats = event === 'chat' ? [payload] : event === 'chats' && Array.isArray(payload) ? payload : undefined;
  const first = chats?.[0] as { origin?: unknown } | undefined;
  const origin = first && typeof first === 'object' && 'origin' in first ? String(first.origin) : undefined;
  return { event, origin, payload, ...(chats ? { chats: chats as BackplaneMessage['chats'] } : {}) };
}

/**
 * Decodes one entry of the streams adapter's stream: fields uid, nsp, type (3 = a broadcast) and
 * data, JSON text or, when the packet holds binary, base64 MessagePack (its encode()).
 */
export function decodeStreamEntry(stream: string, fields: string[]): BackplaneMessage {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const size = fields.reduce((a, x) => a + Buffer.byteLength(x), 0);
  const base = { at: new Date(), channel: stream, size, serverUid: f.uid };
  let data: unknown;
  try {
    data = f.data === undefined ? undefined : f.data.startsWith('{') ? JSON.parse(f.data) : notepack.decode(Buffer.from(f.data, 'base64'));
  } catch {
    return { ...base, kind: 'other', payload: f.data };
  }
  if (f.type === '3') {
    const packet = (data as { packet?: { data?: unknown[] } } | undefined)?.packet;
    return { ...base, kind: 'broadcast', ...describePacket(packet) };
  }
  return { ...base, kind: 'other', payload: { type: f.type, data } };
}

/** What verify and watch read the backplane through, whichever it is. */
export interface Tap {
  onMessage(fn: (m: BackplaneMessage) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** for people: what it listens to */
  readonly describe: string;
}

export function openTap(target: RedisTarget, key: string, backplane: Backplane): Tap {
  return backplane === 'streams' ? new StreamTap(target, key) : new BackplaneTap(target, key);
}

/**
 * A reader of the streams adapter's stream, from its end at start(): XREAD with the last id it
 * saw, so nothing appended between two reads is missed. Blocks 1 s at a time, within the check
 * client's command timeout.
 */
export class StreamTap implements Tap {
  private readonly client: Redis;
  private readonly listeners: ((m: BackplaneMessage) => void)[] = [];
  private readonly stream: string;
  private running = false;
  private loop?: Promise<void>;
  readonly describe: string;

  constructor(target: RedisTarget, key: string) {
    this.client = checkClient(target, 3000);
    this.stream = streamsKeys(key).stream;
    this.describe = `the stream ${this.stream}`;
  }

  onMessage(fn: (m: BackplaneMessage) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    await this.client.connect();
    const last = (await this.client.xrevrange(this.stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    let offset = last[0]?.[0] ?? '0-0';
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        let reply: [string, [string, string[]][]][] | null;
        try {
          reply = (await this.client.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', this.stream, offset)) as typeof reply;
        } catch {
          if (!this.running || this.client.status === 'end') return;
          continue;
        }
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          offset = id;
          const m = decodeStreamEntry(this.stream, fields);
          for (const l of this.listeners) l(m);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.client.disconnect();
    await this.loop;
  }
}

/** A subscriber on every backplane channel of the lab, as the seed's redis-cli step. */
export class BackplaneTap implements Tap {
  private readonly client: Redis;
  private readonly listeners: ((m: BackplaneMessage) => void)[] = [];
  readonly describe: string;

  constructor(
    target: RedisTarget,
    private readonly key: string,
  ) {
    this.describe = `${key}#*, -request#*, -response#*`;
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

/**
 * The channel every server of the backplane subscribes to, one subscriber per running web node:
 * pub/sub's request channel; the streams adapter's public channel (its serverCount()).
 */
export function serversChannel(key: string, backplane: Backplane): string {
  return backplane === 'streams' ? streamsKeys(key).channel : adapterChannels(key).request;
}

/** How many servers are subscribed to the backplane: one per running web node. */
export async function subscribedServers(redis: Redis, key: string, backplane: Backplane = 'pubsub'): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'NUMSUB', serversChannel(key, backplane))) as [string, number];
  return Number(reply[1]);
}
