import { createAdapter as createPubSubAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Redis } from 'ioredis';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import type { ServerOptions } from 'socket.io';
import type { AppConfig } from './config.js';
import { streamsKeys } from '../spec/backplane-keys.js';
import type { RedisLink } from './redis-link.js';
import { broadcastWithoutWaiting } from './ordered-broadcast.js';
import { dropRepeatedEntries } from './stream-dedupe.js';

/** How long a disconnected client's session (rooms, missed messages) is kept for it to come back. */
export const RECOVERY_WINDOW_MS = 2 * 60 * 1000;

/** The socket.io adapter (and what it needs of the server) for the configured backplane. */
export function backplaneOptions(config: AppConfig, link: RedisLink): Partial<ServerOptions> {
  if (config.topology === 'cluster') {
    // Sharded pub/sub: each channel lives on the one shard that owns its slot, so a cluster's
    // traffic is spread instead of every message crossing the cluster bus to every node.
    // static: the chat broadcasts to everyone, so two channels (the namespace's and this server's
    // private one for requests) are all it needs; dynamic would add a channel per room.
    const sharded = createShardedAdapter(link.pub, link.sub, { channelPrefix: config.channel, subscriptionMode: 'static' });
    return {
      // called with `new` by socket.io: a function, not an arrow (see the streams adapter below)
      adapter: function (nsp: Parameters<typeof sharded>[0]) {
        return broadcastWithoutWaiting(sharded(nsp));
      } as unknown as typeof sharded,
    };
  }
  if (config.backplane === 'pubsub') return { adapter: createPubSubAdapter(link.pub, link.sub, { key: config.channel }) };
  // config.ts refuses streams with a cluster: the link's clients are single-node ones here
  const pub = link.pub as Redis;
  const keys = streamsKeys(config.channel);
  const streams = createStreamsAdapter(pub, {
    streamName: keys.stream,
    channelPrefix: config.channel,
    sessionKeyPrefix: keys.sessionPrefix,
  });
  return {
    // socket.io calls it with `new`: a function, not an arrow (an object returned from a constructor is the result)
    adapter: function (nsp: Parameters<typeof streams>[0]) {
      return dropRepeatedEntries(streams(nsp));
    } as unknown as typeof streams,
    // A client that drops (its server restarted, its network blinked) comes back with its
    // session: the messages it missed are read from the stream and sent to it, on any server.
    connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS, skipMiddlewares: true },
  };
}
