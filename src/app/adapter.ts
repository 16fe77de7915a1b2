import { createAdapter as createPubSubAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import type { ServerOptions } from 'socket.io';
import type { AppConfig } from './config.js';
import { streamsKeys } from '../spec/backplane-keys.js';
import type { RedisLink } from './redis-link.js';
import { dropRepeatedEntries } from './stream-dedupe.js';

/** How long a disconnected client's session (rooms, missed messages) is kept for it to come back. */
export const RECOVERY_WINDOW_MS = 2 * 60 * 1000;

/** The socket.io adapter (and what it needs of the server) for the configured backplane. */
export function backplaneOptions(config: AppConfig, link: RedisLink): Partial<ServerOptions> {
  if (config.backplane === 'pubsub') return { adapter: createPubSubAdapter(link.pub, link.sub, { key: config.channel }) };
  const keys = streamsKeys(config.channel);
  const streams = createStreamsAdapter(link.pub, {
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
