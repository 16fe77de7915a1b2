import type { Redis } from 'ioredis';
import { redisMachines, type LabSpec } from '../spec/types.js';
import { withRedis } from './redis-probe.js';

/**
 * The channel the sharded adapter broadcasts on for namespace "/" (sharded-adapter.js:
 * `${channelPrefix}#${nsp.name}#`): every server subscribes to it, every chat message goes
 * through it, so its shard carries the chat. (Each server's private channel, `<that>#<uid>#`,
 * carries only requests between servers and lands on whatever shard its uid hashes to.)
 */
export function shardedChannel(channel: string): string {
  return `${channel}#/#`;
}

export interface ShardNode {
  /** the lab machine's name, or ip:port when it is none of them */
  name: string;
  addr: string;
  id: string;
  /** online, failed or loading, as CLUSTER SHARDS says */
  health: string;
}

export interface ChannelShard {
  channel: string;
  slot: number;
  master: ShardNode;
  replicas: ShardNode[];
  /** the machine that answered */
  askedOn: string;
}

/** A RESP2 map (CLUSTER SHARDS) as a flat [k, v, k, v] array, to an object. */
function pairs(flat: unknown): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const a = Array.isArray(flat) ? flat : [];
  for (let i = 0; i + 1 < a.length; i += 2) o[String(a[i])] = a[i + 1];
  return o;
}

/**
 * Which shard serves `channel` now, from CLUSTER KEYSLOT and CLUSTER SHARDS (Redis 7) on one
 * node: the master that is online for the slot and its replicas.
 */
export async function readChannelShard(redis: Redis, channel: string, nameOf: (addr: string) => string): Promise<Omit<ChannelShard, 'askedOn'>> {
  const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', channel));
  const shards = (await redis.call('CLUSTER', 'SHARDS')) as unknown[];
  for (const raw of shards) {
    const shard = pairs(raw);
    const ranges = (shard.slots as number[] | undefined) ?? [];
    let owns = false;
    for (let i = 0; i + 1 < ranges.length; i += 2) if (slot >= Number(ranges[i]) && slot <= Number(ranges[i + 1])) owns = true;
    if (!owns) continue;
    const nodes = ((shard.nodes as unknown[] | undefined) ?? []).map(pairs).map((n) => {
      const addr = `${String(n.ip)}:${String(n.port)}`;
      return { name: nameOf(addr), addr, id: String(n.id), health: String(n.health), role: String(n.role) };
    });
    const master = nodes.find((n) => n.role === 'master' && n.health === 'online');
    if (!master) throw new Error(`no online master for slot ${slot} of ${channel} (${nodes.map((n) => `${n.name} ${n.role} ${n.health}`).join(', ')})`);
    const strip = ({ role: _role, ...n }: (typeof nodes)[number]): ShardNode => n;
    return { channel, slot, master: strip(master), replicas: nodes.filter((n) => n.role === 'replica').map(strip) };
  }
  throw new Error(`no shard serves slot ${slot} of ${channel}`);
}

/** A node of the lab's cluster: its machine's name and where it listens. */
export interface ClusterMember {
  name: string;
  host: string;
  port: number;
}

/** The lab's cluster nodes: every redis machine, on redis.port (contract item 1). */
export function clusterMembers(spec: LabSpec): ClusterMember[] {
  return redisMachines(spec).map((m) => ({ name: m.name, host: m.ip, port: spec.redis.port }));
}

/** Asks the nodes in turn (a killed one does not answer) which shard carries `channel` (the spec's). */
export async function findChannelShard(members: ClusterMember[], channel: string, password: string, timeoutMs = 2000): Promise<ChannelShard> {
  const byAddr = new Map(members.map((m) => [`${m.host}:${m.port}`, m.name]));
  const nameOf = (addr: string) => byAddr.get(addr) ?? addr;
  const errors: string[] = [];
  for (const m of members) {
    try {
      const shard = await withRedis({ host: m.host, port: m.port, password }, (c) => readChannelShard(c, shardedChannel(channel), nameOf), timeoutMs);
      return { ...shard, askedOn: m.name };
    } catch (err) {
      errors.push(`${m.name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no cluster node could say which shard carries ${shardedChannel(channel)}: ${errors.join('; ')}`);
}

/** For people: "ChatApp#/# (slot 12495) on redis3 10.0.0.12:6379, replica redis6 (online)". */
export function describeShard(s: ChannelShard): string {
  const replicas = s.replicas.map((r) => `${r.name} (${r.health})`).join(', ');
  return `${s.channel} (slot ${s.slot}) on ${s.master.name} ${s.master.addr} (node ${s.master.id.slice(0, 8)})${replicas ? `, replica ${replicas}` : ', no replica'}`;
}
