import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import type { AppConfig } from './config.js';
import type { Log } from './log.js';
import type { RedisLinkState } from './protocol.js';
import { absorbRejections } from './absorb-rejections.js';
import type { RedisLink } from './redis-link.js';

// What the sharded adapter and ioredis's Cluster call without handling the returned promise:
// the adapter's SPUBLISH/SSUBSCRIBE/SUNSUBSCRIBE, and ioredis's own re-subscribes go through
// ssubscribe too. A node that is away (killed, failing over) would make each one an unhandled
// rejection.
const FIRE_AND_FORGET = ['spublish', 'ssubscribe', 'sunsubscribe'];

/** ioredis's per-shard subscribers (cluster/ClusterSubscriberGroup.js), read to report the link's state. */
interface ShardedSubscriberView {
  isStarted(): boolean;
  getInstance(): Redis | null;
}
interface SubscriberGroupView {
  shardedSubscribers: Map<string, ShardedSubscriberView>;
  channels: Map<number, string[]>;
  subscriberToSlotsIndex: Map<string, number[]>;
}

/**
 * The app's link to a Redis Cluster: two Cluster clients found through REDIS_NODES (the seeds),
 * the same guarantees as the single-node link (redis-link.ts): no queued publishes while a
 * shard is away (at most once), subscriptions that come back by themselves (ioredis's sharded
 * subscriber group, one connection per master that holds one of our channels, follows the
 * slots to a promoted replica), a state that says "connected" only when every shard holding one
 * of our channels has its subscriber connection up, and a watchdog for silent peers.
 */
export function createClusterLink(config: AppConfig, log: Log): RedisLink {
  const clientName = `chat:${config.node.replace(/[^A-Za-z0-9_.:-]/g, '_')}`;
  const seeds = config.nodes.map((n) => ({ host: n.host, port: n.port }));
  const options = (name: string, offlineQueue: boolean): ClusterOptions => ({
    redisOptions: {
      username: config.redis.username,
      password: config.redis.password,
      // the chat user runs neither INFO nor CLIENT SETINFO (src/roles/redis/acl.ts)
      enableReadyCheck: false,
      disableClientInfo: true,
      connectTimeout: 3000,
      keepAlive: 10_000,
      disconnectTimeout: 1000,
      maxRetriesPerRequest: null,
      connectionName: name,
    },
    // the Cluster's own ready check is CLUSTER INFO: one more command for the chat user, and the
    // slot map (CLUSTER SLOTS) it needs anyway already says which nodes serve what
    enableReadyCheck: false,
    enableOfflineQueue: offlineQueue,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
    // a failover moves slots without a MOVED for a client that only publishes to a dead node:
    // look at the slot map often enough to follow a promotion within about a second
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: 2000,
  });
  // pub: no offline queue, for the same reason as the single-node link (at most once), and no
  // retries while a shard fails over: ioredis would send a publish refused with a closed connection
  // or CLUSTERDOWN again every 100 ms, and such a retry lands after newer messages that went
  // straight through once the replica took over (measured: 342 of 2,688 receipts out of order in
  // an 8 s failover on netns). A MOVED is still followed at once: that keeps the order.
  const pub = new Cluster(seeds, { ...options(`${clientName}:pub`, false), retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 });
  // sub: the adapter's SSUBSCRIBEs wait for the cluster instead of failing when the app starts first
  const sub = new Cluster(seeds, { ...options(`${clientName}:sub`, true), shardedSubscribers: true });
  const clients = [pub, sub];

  let state: RedisLinkState = 'connecting';
  let everConnected = false;
  let closing = false;
  let localOnlyNoted = false;
  const listeners: Array<(s: RedisLinkState) => void> = [];
  let lastError = '';
  // shards whose subscriber connection answered a PING after (re)subscribing: the SSUBSCRIBE
  // replies are in, messages flow
  const synced = new WeakSet<Redis>();

  const group = () => (sub as unknown as { shardedSubscribers?: SubscriberGroupView }).shardedSubscribers;
  /** the subscriber connections of the shards that hold one of our channels; undefined while one is missing */
  const neededSubscribers = (): Redis[] | undefined => {
    const g = group();
    if (!g) return undefined;
    const result: Redis[] = [];
    for (const [nodeKey, slots] of g.subscriberToSlotsIndex) {
      const ours = slots.filter((slot) => (g.channels.get(slot)?.length ?? 0) > 0);
      if (ours.length === 0) continue;
      const instance = g.shardedSubscribers.get(nodeKey)?.getInstance();
      if (!instance || instance.status !== 'ready') return undefined;
      // the publisher keeps a slot map of its own: until it too names this node for our channels'
      // slots (after a failover), its publishes go to the old master and are lost
      if (ours.some((slot) => pub.slots[slot]?.[0] !== nodeKey)) {
        pub.refreshSlotsCache();
        return undefined;
      }
      // the publisher connects to a node on its first command there, and with no offline queue
      // what it sends while that connection is being made is refused ("Connection is closed."):
      // a burst right after "connected" lost all but its first message. Its connection to the
      // shard's master is part of being connected.
      if (!publisherReady(nodeKey)) return undefined;
      result.push(instance);
    }
    return result.length > 0 ? result : undefined;
  };

  const hooked = new WeakSet<Redis>();
  const publisherReady = (nodeKey: string): boolean => {
    const node = pub.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    if (!node) return false;
    if (node.status === 'ready') return true;
    if (!hooked.has(node)) {
      hooked.add(node);
      node.on('ready', update);
    }
    if (node.status === 'wait') node.connect().catch(() => {});
    return false;
  };

  const compute = (): RedisLinkState => {
    if (closing || clients.some((c) => c.status === 'end')) return 'disconnected';
    const subs = clients.every((c) => c.status === 'ready') ? neededSubscribers() : undefined;
    if (subs && subs.every((s) => synced.has(s))) return 'connected';
    return everConnected ? 'reconnecting' : 'connecting';
  };
  const update = () => {
    const next = compute();
    if (next === state) return;
    state = next;
    if (next === 'connected') {
      everConnected = true;
      localOnlyNoted = false;
      lastError = '';
    }
    log(`redis ${next} (cluster ${config.nodes.map((n) => `${n.host}:${n.port}`).join(',')})`);
    for (const l of listeners) l(next);
  };
  /** PINGs each shard subscriber not known to be in sync; its answer comes after its SSUBSCRIBE replies */
  const syncSubscribers = () => {
    for (const instance of neededSubscribers() ?? []) {
      if (synced.has(instance)) continue;
      instance.ping().then(
        () => {
          synced.add(instance);
          update();
        },
        () => {},
      );
    }
    update();
  };

  absorbRejections(pub, FIRE_AND_FORGET, (method) => {
    // a refused publish (its node gone, CLUSTERDOWN) is not retried (above): look at the slot
    // map now rather than at the next interval, so the next publish goes to a promoted replica
    if (!closing) (pub as unknown as { refreshSlotsCache(): void }).refreshSlotsCache();
    if (method === 'spublish' && !localOnlyNoted && !closing) {
      localOnlyNoted = true;
      log('redis unavailable: messages reach only this server\'s clients until it is back');
    }
  });
  absorbRejections(sub, FIRE_AND_FORGET, () => {});

  for (const [role, client] of [['pub', pub], ['sub', sub]] as const) {
    for (const event of ['connect', 'ready', 'close', 'reconnecting', 'end', '+node', '-node', 'refresh']) client.on(event, update);
    client.on('error', (err: Error) => {
      if (closing || lastError === err.message) return;
      lastError = err.message;
      log(`redis ${role} error: ${err.message}`);
    });
    client.on('node error', () => {});
  }
  sub.on('subscribersReady', syncSubscribers);
  sub.on('ready', syncSubscribers);
  sub.on('-subscriber', update);

  // The watchdog, per connection: the publisher's connection to each master and each shard's
  // subscriber. An unanswered PING for a whole interval drops that connection; ioredis then
  // refreshes the slot map and connects again (to the promoted replica if the master is gone).
  const pending = new Map<Redis, number>();
  const watchdog = setInterval(() => {
    syncSubscribers();
    const connections = [...pub.nodes('master'), ...(neededSubscribers() ?? [])];
    for (const connection of pending.keys()) if (!connections.includes(connection)) pending.delete(connection);
    for (const connection of connections) {
      if (connection.status !== 'ready') {
        pending.delete(connection);
        continue;
      }
      const since = pending.get(connection);
      if (since !== undefined) {
        if (Date.now() - since >= config.redisWatchdogMs) {
          pending.delete(connection);
          const where = `${connection.options.host}:${connection.options.port}`;
          log(`redis ${where} unresponsive for ${Date.now() - since} ms, reconnecting`);
          connection.disconnect();
        }
        continue;
      }
      const sentAt = Date.now();
      pending.set(connection, sentAt);
      connection.ping().then(
        () => {
          if (pending.get(connection) === sentAt) pending.delete(connection);
        },
        () => {},
      );
    }
  }, Math.min(config.redisWatchdogMs, 1000));
  watchdog.unref();

  return {
    pub,
    sub,
    reader: undefined,
    state: () => state,
    onChange: (listener) => listeners.push(listener),
    async close(timeoutMs) {
      closing = true;
      clearInterval(watchdog);
      await Promise.all(
        clients.map(async (client) => {
          if (client.status === 'ready') {
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
            clearTimeout(timer);
          }
          client.disconnect();
        }),
      );
      update();
    },
  };
}
