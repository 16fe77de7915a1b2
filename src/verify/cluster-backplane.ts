import { CHAT_USER } from '../roles/redis/acl.js';
import type { Backplane } from '../spec/types.js';
import { chatUserLimitedCheck } from './acl.js';
import { describeShard, findChannelShard, type ChannelShard, type ClusterMember } from './channel-shard.js';
import type { CheckResult } from './checks.js';
import { withRedis } from './redis-probe.js';

/**
 * verify's view of the chat on a Redis Cluster (issue 13 part 2, contract item 4, engineer B's
 * half): which shard carries the chat channel, that every server is subscribed on it, that every
 * connection of the servers is the chat user, and the chat user's limits on every node. The
 * cluster's own health (cluster_state, slots, replicas) is cluster-health.ts.
 */

/** The shard (node name, ip:port, slot) that carries the chat channel, as a check and as data. */
export async function shardCheck(members: ClusterMember[], channel: string, password: string, wantReplica: boolean): Promise<{ check: CheckResult; shard?: ChannelShard }> {
  const name = 'the chat channel\'s shard';
  try {
    const shard = await findChannelShard(members, channel, password);
    // Redis 7.0 reports a replica whose replication offset is still 0 as "loading": a fresh
    // replica of a backplane that stores nothing stays there until the master's first
    // replication ping. Only "failed" means it cannot take over.
    const replicaUp = shard.replicas.some((r) => r.health !== 'failed');
    const ok = !wantReplica || replicaUp;
    return { shard, check: { name, node: shard.master.name, ok, reason: `${describeShard(shard)}${ok ? '' : ': its replica is not online'}` } };
  } catch (err) {
    return { check: { name, ok: false, reason: (err as Error).message } };
  }
}

/** PUBSUB SHARDNUMSUB on the channel's master: one subscribed server per running web node. */
export async function shardSubscribers(password: string, shard: ChannelShard): Promise<number> {
  const [host, port] = splitAddr(shard.master.addr);
  const reply = (await withRedis({ host, port, password }, (c) => c.call('PUBSUB', 'SHARDNUMSUB', shard.channel))) as [string, number];
  return Number(reply[1]);
}

/**
 * Every connection of the chat servers, on every node, is the chat user; each web node
 * publishes (its `chat:<node>:pub` connections) and subscribes on the channel's master (ioredis
 * names that connection `ioredis-cluster(ssubscriber):chat:<node>:sub`). ioredis's Cluster
 * connects to a node for publishing on its first command there: ask after chat went through.
 */
export async function clusterConnectionsCheck(members: ClusterMember[], password: string, webs: string[], shard: ChannelShard): Promise<CheckResult> {
  const name = `the chat servers connect as Redis user ${CHAT_USER} (every cluster node)`;
  const problems: string[] = [];
  const conns: { node: string; addr: string; name: string; user: string }[] = [];
  for (const m of members) {
    try {
      const list = String(await withRedis({ host: m.host, port: m.port, password }, (c) => c.call('CLIENT', 'LIST')));
      for (const l of list.split('\n')) {
        const n = / name=(\S*)/.exec(l)?.[1] ?? '';
        if (/(^|:)chat:/.test(n)) conns.push({ node: m.name, addr: `${m.host}:${m.port}`, name: n, user: / user=(\S*)/.exec(l)?.[1] ?? '' });
      }
    } catch (err) {
      // a node killed by a fault does not answer; the others must still show the servers
      if (m.name !== shard.master.name) problems.push(`${m.name}: CLIENT LIST failed: ${(err as Error).message}`);
    }
  }
  for (const c of conns) if (c.user !== CHAT_USER) problems.push(`${c.name} on ${c.node} is user ${c.user}`);
  for (const w of webs) {
    if (!conns.some((c) => c.name.endsWith(`chat:${w}:pub`))) problems.push(`${w}: no publishing connection (chat:${w}:pub) on any node`);
    if (!conns.some((c) => c.name.endsWith(`ssubscriber):chat:${w}:sub`) && c.addr === shard.master.addr)) problems.push(`${w}: no sharded subscriber on ${shard.master.name}, the channel's master`);
  }
  return problems.length === 0
    ? { name, node: shard.master.name, ok: true, reason: `${conns.length} connections on ${new Set(conns.map((c) => c.node)).size} nodes (${webs.join(', ')}), all user ${CHAT_USER}; each server subscribed on ${shard.master.name}` }
    : { name, node: shard.master.name, ok: false, reason: problems.join('; ') };
}

/** The chat user's limits (ACL DRYRUN) on every node of the cluster: one check, naming the nodes that differ. */
export async function clusterChatUserCheck(members: ClusterMember[], channel: string, backplane: Backplane, password: string): Promise<CheckResult> {
  const results = await Promise.all(
    members.map(async (m) =>
      withRedis({ host: m.host, port: m.port, password }, (c) => chatUserLimitedCheck(c, channel, m.name, backplane, 'cluster')).catch((err: Error) => ({
        name: '',
        node: m.name,
        ok: false,
        reason: err.message,
      })),
    ),
  );
  const bad = results.filter((r) => !r.ok);
  return {
    name: `Redis user ${CHAT_USER} is limited to the backplane (every cluster node)`,
    ok: bad.length === 0,
    reason: bad.length === 0 ? `${results.length} nodes: ${results[0]?.reason ?? ''}` : bad.map((r) => `${r.node}: ${r.reason}`).join('; '),
  };
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}
