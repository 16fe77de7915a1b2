import notepack from 'notepack.io';
import { Cluster } from 'ioredis';
import { describePacket, type BackplaneMessage, type Tap } from './backplane.js';
import { shardedChannel } from './channel-shard.js';

/** socket.io-adapter's MessageType.BROADCAST (cluster-adapter.d.ts) */
const BROADCAST = 3;

/**
 * Decodes one message of the sharded adapter (a ClusterAdapter: `{ uid, nsp, type, data }`,
 * JSON text, or MessagePack when the packet holds binary; sharded-adapter.js encode()).
 */
export function decodeShardedMessage(channel: string, raw: Buffer): BackplaneMessage {
  const base = { at: new Date(), channel, size: raw.length };
  let m: { uid?: unknown; type?: unknown; data?: { packet?: { data?: unknown[] } } } | undefined;
  try {
    m = raw[0] === 0x7b ? JSON.parse(raw.toString('utf8')) : notepack.decode(raw);
  } catch {
    return { ...base, kind: 'other', payload: raw.toString('utf8') };
  }
  const serverUid = m?.uid === undefined ? undefined : String(m.uid);
  if (m?.type === BROADCAST) return { ...base, kind: 'broadcast', serverUid, ...describePacket(m.data?.packet) };
  return { ...base, kind: channel === shardedChannel(channel.split('#')[0]!) ? 'other' : 'response', serverUid, payload: m };
}

/**
 * A subscriber on the chat's sharded channel, through a Cluster client of its own: SSUBSCRIBE on
 * the shard that owns the channel's slot, following it to a promoted replica as the app does.
 * (Sharded pub/sub has no patterns: the servers' private channels, named after their random
 * uids, are not followed; they carry requests between servers, never chat.)
 */
export class ShardTap implements Tap {
  private readonly client: Cluster;
  private readonly listeners: ((m: BackplaneMessage) => void)[] = [];
  private readonly channel: string;
  readonly describe: string;

  constructor(seeds: { host: string; port: number }[], password: string | undefined, key: string) {
    this.channel = shardedChannel(key);
    this.describe = `${this.channel} (sharded)`;
    this.client = new Cluster(seeds, {
      shardedSubscribers: true,
      enableReadyCheck: false,
      slotsRefreshInterval: 1000,
      clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
      redisOptions: { password, connectTimeout: 3000, enableReadyCheck: false, connectionName: 'labctl:tap' },
    });
    this.client.on('error', () => {});
    this.client.on('node error', () => {});
    this.client.on('smessageBuffer', (channel: Buffer, message: Buffer) => {
      const decoded = decodeShardedMessage(channel.toString(), message);
      for (const l of this.listeners) l(decoded);
    });
  }

  onMessage(fn: (m: BackplaneMessage) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.ssubscribe(this.channel),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`SSUBSCRIBE ${this.channel}: no answer within 5 s`)), 5000))),
      ]);
    } catch (err) {
      // a Cluster client keeps trying for ever: stop it, or the process never ends
      this.client.disconnect();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.client.disconnect();
  }
}
