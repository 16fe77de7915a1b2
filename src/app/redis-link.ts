import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { AppConfig } from './config.js';
import type { Log } from './log.js';
import type { RedisLinkState } from './protocol.js';
import { absorbRejections } from './absorb-rejections.js';
import { createClusterLink } from './redis-cluster-link.js';

export interface RedisLink {
  /** publishes; never queues while Redis is away (see below); a Cluster client with REDIS_TOPOLOGY=cluster */
  readonly pub: Redis | Cluster;
  /** subscribes; ioredis re-subscribes it after every reconnect; a Cluster client with REDIS_TOPOLOGY=cluster */
  readonly sub: Redis | Cluster;
  /** streams backplane only: the connection that waits in XREAD BLOCK for the other servers' entries */
  readonly reader: Redis | undefined;
  state(): RedisLinkState;
  onChange(listener: (state: RedisLinkState) => void): void;
  /** quits both clients; resolves within about `timeoutMs` even when Redis does not answer */
  close(timeoutMs: number): Promise<void>;
}

// The adapter calls publish/(p)subscribe/(p)unsubscribe (and the streams adapter SET) without
// handling the returned promise: see absorb-rejections.ts.
const FIRE_AND_FORGET = ['publish', 'subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe', 'set'];

export function createRedisLink(config: AppConfig, log: Log): RedisLink {
  if (config.topology === 'cluster') return createClusterLink(config, log);
  const clientName = `chat:${config.node.replace(/[^A-Za-z0-9_.:-]/g, '_')}`;
  const base: RedisOptions = {
    host: config.redis.host,
    port: config.redis.port,
    username: config.redis.username,
    password: config.redis.password,
    // A user of its own (labctl's `chat`) may run only what the adapter needs: not INFO, which
    // ioredis's ready check sends (the backplane's Redis keeps no data, so it never loads any),
    // nor CLIENT SETINFO, which ioredis sends to name its library
    enableReadyCheck: config.redis.username === undefined,
    disableClientInfo: true,
    // A lab VM that is powered off or paused drops packets instead of refusing: give up each
    // attempt quickly and keep trying every 2 s at most, for as long as it takes.
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    keepAlive: 10_000,
    disconnectTimeout: 1000,
    maxRetriesPerRequest: null,
  };
  const streams = config.backplane === 'streams';
  // pubsub: no offline queue for publishing: during an outage the adapter's publishes fail at once
  // and the message reaches only this server's clients, as the adapter documents (at most once).
  // Queuing them would replay them into a channel nobody was subscribed to during the outage.
  // streams: the queue is the promise. An XADD made while Redis is away waits and is sent, in
  // order, when it is back; the other servers read the stream from where they were, so nothing
  // accepted is lost. The cost: memory grows with what is accepted for as long as Redis is away.
  // A publish whose reply never came when the connection is replaced (the watchdog below, after a
  // silent link) may or may not have reached Redis. pubsub: dropped, not sent again (at most once;
  // a second copy would also arrive after newer messages). streams: sent again, as the adapter
  // waits for its answer; the reading servers drop the repeat (stream-dedupe.ts).
  const pub = new Redis({ ...base, enableOfflineQueue: streams, autoResendUnfulfilledCommands: streams, connectionName: `${clientName}:pub` });
  // The subscriber keeps its queue so the adapter's first PSUBSCRIBE waits for Redis instead of
  // failing when the app starts before Redis does.
  // (Its unanswered (P)SUBSCRIBEs are sent again: the subscription must come back either way.)
  const sub = pub.duplicate({ enableOfflineQueue: true, autoResendUnfulfilledCommands: true, connectionName: `${clientName}:sub` });
  // The streams adapter duplicates the client it is given, first for its XREAD loop, then for its
  // subscriber. Handing out these two instead gives every connection a name verify can find and
  // keeps the subscriber under this link's watch. The reader must queue: the adapter retries a
  // failed XREAD at once, which without a queue would spin for as long as Redis is away.
  const reader = streams ? pub.duplicate({ enableOfflineQueue: true, autoResendUnfulfilledCommands: true, connectionName: `${clientName}:stream` }) : undefined;
  if (reader) {
    const handOut = [reader, sub];
    (pub as { duplicate: Redis['duplicate'] }).duplicate = () => {
      const next = handOut.shift();
      if (!next) throw new Error('the streams adapter asked for more Redis connections than the chat app has');
      return next;
    };
  }
  const clients = reader ? [pub, sub, reader] : [pub, sub];

  let state: RedisLinkState = 'connecting';
  let everConnected = false;
  let closing = false;
  // ioredis reports `ready` before the re-subscribe replies arrive; a PING sent after them on the
  // same connection answers only once they are done, so "connected" means messages flow again.
  let subSynced = false;
  let subGeneration = 0;
  let localOnlyNoted = false;
  const listeners: Array<(s: RedisLinkState) => void> = [];
  const lastError = new Map<Redis, string>();

  const compute = (): RedisLinkState => {
    if (closing || clients.some((c) => c.status === 'end')) return 'disconnected';
    if (clients.every((c) => c.status === 'ready') && subSynced) return 'connected';
    return everConnected ? 'reconnecting' : 'connecting';
  };
  const update = () => {
    const next = compute();
    if (next === state) return;
    state = next;
    if (next === 'connected') {
      everConnected = true;
      localOnlyNoted = false;
      lastError.clear();
    }
    log(`redis ${next} (${config.redis.host}:${config.redis.port})`);
    for (const l of listeners) l(next);
  };

  absorbRejections(pub, FIRE_AND_FORGET, (method) => {
    if (method === 'publish' && !localOnlyNoted && !closing) {
      localOnlyNoted = true;
      log('redis unavailable: messages reach only this server\'s clients until it is back');
    }
  });
  absorbRejections(sub, FIRE_AND_FORGET, () => {});

  const roles: [string, Redis][] = [['pub', pub], ['sub', sub]];
  if (reader) roles.push(['stream', reader]);
  for (const [role, client] of roles) {
    for (const event of ['connect', 'ready', 'close', 'reconnecting', 'end']) client.on(event, update);
    // An 'error' without a listener would throw; ioredis retries on its own, so logging is all
    // that is needed, once per distinct error per outage rather than every retry.
    client.on('error', (err: Error) => {
      if (closing || lastError.get(client) === err.message) return;
      lastError.set(client, err.message);
      log(`redis ${role} error: ${err.message}`);
    });
  }
  sub.on('ready', () => {
    const generation = ++subGeneration;
    sub.ping().then(
      () => {
        if (generation !== subGeneration) return;
        subSynced = true;
        update();
      },
      () => {},
    );
  });
  sub.on('close', () => {
    subGeneration++;
    subSynced = false;
    update();
  });

  // A peer that disappears without a TCP reset (a paused VM, a cut link) leaves the subscriber
  // waiting silently forever: it never writes, so it never sees an error. An unanswered PING for a
  // whole interval forces a reconnect, and the state stops claiming "connected".
  const pending = new Map<Redis, number>();
  const watchdog = setInterval(() => {
    // not the streams reader: it spends up to 5 s in XREAD BLOCK, and a PING behind it would look
    // like a dead peer; its XREAD returns every 5 s, and TCP keepalive covers a vanished peer
    for (const client of [pub, sub]) {
      if (client.status !== 'ready') {
        pending.delete(client);
        continue;
      }
      const since = pending.get(client);
      if (since !== undefined) {
        if (Date.now() - since >= config.redisWatchdogMs) {
          pending.delete(client);
          log(`redis ${client === pub ? 'pub' : 'sub'} unresponsive for ${Date.now() - since} ms, reconnecting`);
          // The publisher with a reset: a graceful close would leave the publishes the kernel still
          // holds for the silent peer to be delivered when the link comes back, after newer ones
          // (out of order). The subscriber closes gracefully, so that Redis, once it hears the FIN,
          // drops its subscriptions instead of keeping a dead subscriber until its keepalive.
          const socket = (client as unknown as { stream?: { resetAndDestroy?: () => void } }).stream;
          if (client === pub && typeof socket?.resetAndDestroy === 'function') socket.resetAndDestroy();
          else client.disconnect(true);
        }
        continue;
      }
      const sentAt = Date.now();
      pending.set(client, sentAt);
      client.ping().then(
        () => {
          if (pending.get(client) === sentAt) pending.delete(client);
        },
        () => {},
      );
    }
  }, config.redisWatchdogMs);
  watchdog.unref();

  return {
    pub,
    sub,
    reader,
    state: () => state,
    onChange: (listener) => listeners.push(listener),
    async close(timeoutMs) {
      closing = true;
      clearInterval(watchdog);
      await Promise.all(
        clients.map(async (client) => {
          if (client.status === 'ready') {
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([
              client.quit().catch(() => {}),
              new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
            ]);
            clearTimeout(timer);
          }
          client.disconnect();
        }),
      );
      update();
    },
  };
}
