import { streamsKeys } from '../../spec/backplane-keys.js';
import type { LabContext } from '../../providers/provider.js';
import type { Backplane, RedisTopology } from '../../spec/types.js';
import { generatePassword } from '../../state/secrets.js';
import { sha256 } from '../../util/hash.js';

/**
 * The Redis user the chat servers connect as: nothing but what they need.
 *
 * What @socket.io/redis-adapter 8.3 sends (node_modules/@socket.io/redis-adapter/dist/index.js,
 * the one namespace "/" the app uses, key = the spec's channel, e.g. ChatApp):
 *   PSUBSCRIBE ChatApp#/#*                         broadcasts, to everyone or to a room
 *   SUBSCRIBE  ChatApp-request#/#  ChatApp-response#/#  ChatApp-response#/#<uid>#
 *   PUBLISH    ChatApp#/#[room#]  ChatApp-request#/#  ChatApp-response#/#[<uid>#]
 *   PUNSUBSCRIBE, UNSUBSCRIBE                      when it closes
 *   PUBSUB NUMSUB ChatApp-request#/#                serverCount()
 * and ioredis, for the app's two connections (src/app/redis-link.ts): AUTH (allowed to every
 * user), CLIENT SETNAME (the connection names verify looks for), PING (the app's watchdog), QUIT
 * (allowed to every user). The app turns off ioredis's ready check (INFO) and its CLIENT SETINFO
 * when it has a user of its own, so neither is granted.
 *
 * Channels: PSUBSCRIBE's pattern must match an allowed pattern literally (Redis ACL docs), so
 * `ChatApp#/#*` is granted as written; as a glob it also covers the published broadcast
 * channels. No keys at all. The password is in redis.conf only as its sha256 (`#<hash>`).
 *
 * What @socket.io/redis-streams-adapter 0.3 sends (node_modules/@socket.io/redis-streams-adapter/
 * dist/adapter.js and util.js; names from src/app/backplane-keys.ts, e.g. ChatApp-stream):
 *   XADD   ChatApp-stream MAXLEN ~ 10000 * …        every broadcast (and room joins/leaves)
 *   XREAD  BLOCK 5000 COUNT 100 STREAMS ChatApp-stream <offset>   its reading loop
 *   SET    ChatApp-session:<pid> … PX <ms>           a disconnected client's session
 *   MULTI, GET, DEL, EXEC on ChatApp-session:<pid>   taking a session back (its GETDEL)
 *   XRANGE ChatApp-stream …                          the messages a recovered client missed
 *   SUBSCRIBE  ChatApp#/#  ChatApp#/#<uid>#          what need not last: requests between servers
 *   PUBLISH    ChatApp#/#  ChatApp#/#<uid>#
 *   PUBSUB NUMSUB ChatApp#/#                         serverCount()
 * plus ioredis's AUTH, CLIENT SETNAME, PING, QUIT as above. Keys: that stream and the sessions,
 * nothing else; channels: `ChatApp#/#*` (the glob covers the public and the private channels).
 * SET, GET and DEL only on the sessions, through a selector (Redis 7.0+): granted on the stream
 * too, SET or DEL would let the chat user replace or delete everybody's backplane in one command.
 *
 * With a Redis Cluster (topology cluster, pub/sub only) the app uses the sharded adapter
 * (node_modules/@socket.io/redis-adapter/dist/sharded-adapter.js, channelPrefix = the channel,
 * subscriptionMode static; src/app/adapter.ts) over two ioredis Cluster clients
 * (src/app/redis-cluster-link.ts):
 *   SSUBSCRIBE   ChatApp#/#  ChatApp#/#<uid>#        on the shard owning each channel's slot
 *   SPUBLISH     ChatApp#/#  ChatApp#/#<uid>#
 *   SUNSUBSCRIBE                                    when it closes
 *   PUBSUB SHARDNUMSUB ChatApp#/#                   serverCount(), sent to every node
 * and ioredis's Cluster: CLUSTER SLOTS (its slot map, at start, every second and after a MOVED
 * or a lost node), AUTH, CLIENT SETNAME, PING (the watchdog), QUIT. Its ready check
 * (CLUSTER INFO) is turned off like the single client's INFO. Nothing of the classic pub/sub:
 * no PUBLISH, SUBSCRIBE or PSUBSCRIBE (a classic PUBLISH would cross the cluster bus to every
 * node). Channels: `ChatApp#/#*` covers both. No keys.
 */
export const CHAT_USER = 'chat';
export const CHAT_PASSWORD_SECRET = 'redis_chat_password';

const COMMON_COMMANDS = ['publish', 'subscribe', 'unsubscribe', 'pubsub|numsub', 'ping', 'client|setname'];

const CLUSTER_COMMANDS = ['spublish', 'ssubscribe', 'sunsubscribe', 'pubsub|shardnumsub', 'cluster|slots', 'ping', 'client|setname'];

/** The commands the chat user may run on its channels and (streams) its stream. */
export function chatCommands(backplane: Backplane, topology: RedisTopology = 'single'): string[] {
  if (topology === 'cluster') return [...CLUSTER_COMMANDS];
  return backplane === 'pubsub' ? [...COMMON_COMMANDS, 'psubscribe', 'punsubscribe'] : [...COMMON_COMMANDS, 'xadd', 'xread', 'xrange', 'multi', 'exec'];
}

/** streams: what the adapter does with sessions, on the session keys only (one ACL selector). */
export const SESSION_COMMANDS = ['set', 'get', 'del'] as const;

export function chatChannels(channel: string, backplane: Backplane = 'pubsub', topology: RedisTopology = 'single'): string[] {
  if (topology === 'cluster') return [`${channel}#/#*`];
  return backplane === 'pubsub' ? [`${channel}#/#*`, `${channel}-request#/#`, `${channel}-response#/#*`] : [`${channel}#/#*`];
}

/** The keys the chat user's stream commands may touch: none with pub/sub; the stream with streams. */
export function chatKeys(channel: string, backplane: Backplane = 'pubsub'): string[] {
  return backplane === 'pubsub' ? [] : [streamsKeys(channel).stream];
}

/** The chat servers' Redis password: generated once per lab, kept in its secrets (0600). */
export function chatPassword(lab: LabContext): string {
  return lab.store.secrets.ensure(CHAT_PASSWORD_SECRET, () => generatePassword(40));
}

/**
 * The rules of the `user` line in redis.conf (after "user chat on"). With topology cluster, the
 * same line on every node of the cluster (the same user and password everywhere).
 */
export function chatAclRules(channel: string, password: string, backplane: Backplane = 'pubsub', topology: RedisTopology = 'single'): string {
  if (topology === 'cluster') {
    return [`#${sha256(password)}`, 'resetkeys', 'resetchannels', ...chatChannels(channel, backplane, topology).map((c) => `&${c}`), '-@all', ...chatCommands(backplane, topology).map((c) => `+${c}`)].join(' ');
  }
  return [
    `#${sha256(password)}`,
    'resetkeys',
    ...chatKeys(channel, backplane).map((k) => `~${k}`),
    'resetchannels',
    ...chatChannels(channel, backplane).map((c) => `&${c}`),
    '-@all',
    ...chatCommands(backplane).map((c) => `+${c}`),
    ...(backplane === 'streams' ? [`(~${streamsKeys(channel).sessionPrefix}* ${SESSION_COMMANDS.map((c) => `+${c}`).join(' ')})`] : []),
  ].join(' ');
}

/**
 * What verify asks Redis about the chat user with ACL DRYRUN (as the default user): each must
 * be refused, or allowed, as written. The allowed ones show the user exists and can do its work.
 */
export function aclProbes(
  channel: string,
  backplane: Backplane = 'pubsub',
  topology: RedisTopology = 'single',
): { command: string[]; allowed: boolean; why: string }[] {
  if (topology === 'cluster') return clusterAclProbes(channel);
  const common = [
    { command: ['CONFIG', 'GET', 'requirepass'], allowed: false, why: 'CONFIG' },
    { command: ['FLUSHALL'], allowed: false, why: 'FLUSHALL' },
    { command: ['KEYS', '*'], allowed: false, why: 'KEYS' },
    { command: ['PUBLISH', 'labctl-outside', 'x'], allowed: false, why: 'PUBLISH outside its channels' },
    { command: ['PUBLISH', `${channel}X#/#`, 'x'], allowed: false, why: `PUBLISH on ${channel}X#/#` },
    { command: ['SUBSCRIBE', 'labctl-outside'], allowed: false, why: 'SUBSCRIBE outside its channels' },
    { command: ['PUBLISH', `${channel}#/#`, 'x'], allowed: true, why: `PUBLISH on ${channel}#/#` },
  ];
  if (backplane === 'pubsub') {
    return [
      ...common,
      { command: ['GET', `${channel}-session:x`], allowed: false, why: 'GET (no keys with pub/sub)' },
      { command: ['PSUBSCRIBE', `${channel}#/#*`], allowed: true, why: `PSUBSCRIBE ${channel}#/#*` },
    ];
  }
  const k = streamsKeys(channel);
  return [
    ...common,
    { command: ['XADD', 'labctl-outside', '*', 'a', 'b'], allowed: false, why: 'XADD outside its stream' },
    { command: ['GET', 'labctl-outside'], allowed: false, why: 'GET outside its sessions' },
    { command: ['SET', k.stream, 'x'], allowed: false, why: `SET on ${k.stream}` },
    { command: ['DEL', k.stream], allowed: false, why: `DEL ${k.stream}` },
    { command: ['PSUBSCRIBE', `${channel}#/#*`], allowed: false, why: 'PSUBSCRIBE (the streams adapter does not)' },
    { command: ['XADD', k.stream, 'MAXLEN', '~', '10000', '*', 'uid', 'x'], allowed: true, why: `XADD ${k.stream}` },
    { command: ['XREAD', 'BLOCK', '5000', 'COUNT', '100', 'STREAMS', k.stream, '$'], allowed: true, why: `XREAD ${k.stream}` },
    { command: ['SET', `${k.sessionPrefix}x`, 'v', 'PX', '1000'], allowed: true, why: `SET ${k.sessionPrefix}*` },
    { command: ['DEL', `${k.sessionPrefix}x`], allowed: true, why: `DEL ${k.sessionPrefix}*` },
  ];
}

function clusterAclProbes(channel: string): { command: string[]; allowed: boolean; why: string }[] {
  return [
    { command: ['CONFIG', 'GET', 'requirepass'], allowed: false, why: 'CONFIG' },
    { command: ['FLUSHALL'], allowed: false, why: 'FLUSHALL' },
    { command: ['KEYS', '*'], allowed: false, why: 'KEYS' },
    { command: ['GET', `${channel}#/#`], allowed: false, why: 'GET (no keys)' },
    { command: ['CLUSTER', 'FAILOVER'], allowed: false, why: 'CLUSTER FAILOVER' },
    { command: ['CLUSTER', 'RESET'], allowed: false, why: 'CLUSTER RESET' },
    { command: ['CLUSTER', 'NODES'], allowed: false, why: 'CLUSTER NODES (CLUSTER SLOTS is enough)' },
    { command: ['PUBLISH', `${channel}#/#`, 'x'], allowed: false, why: 'PUBLISH (classic pub/sub crosses the whole cluster bus)' },
    { command: ['SPUBLISH', 'labctl-outside', 'x'], allowed: false, why: 'SPUBLISH outside its channels' },
    { command: ['SPUBLISH', `${channel}X#/#`, 'x'], allowed: false, why: `SPUBLISH on ${channel}X#/#` },
    { command: ['SSUBSCRIBE', 'labctl-outside'], allowed: false, why: 'SSUBSCRIBE outside its channels' },
    { command: ['SPUBLISH', `${channel}#/#`, 'x'], allowed: true, why: `SPUBLISH on ${channel}#/#` },
    { command: ['SSUBSCRIBE', `${channel}#/#`], allowed: true, why: `SSUBSCRIBE ${channel}#/#` },
    { command: ['PUBSUB', 'SHARDNUMSUB', `${channel}#/#`], allowed: true, why: 'PUBSUB SHARDNUMSUB' },
    { command: ['CLUSTER', 'SLOTS'], allowed: true, why: 'CLUSTER SLOTS' },
  ];
}
