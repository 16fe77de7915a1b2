import type { LabContext } from '../../providers/provider.js';
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
 */
export const CHAT_USER = 'chat';
export const CHAT_PASSWORD_SECRET = 'redis_chat_password';

export const CHAT_COMMANDS = ['publish', 'subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe', 'pubsub|numsub', 'ping', 'client|setname'] as const;

export function chatChannels(channel: string): string[] {
  return [`${channel}#/#*`, `${channel}-request#/#`, `${channel}-response#/#*`];
}

/** The chat servers' Redis password: generated once per lab, kept in its secrets (0600). */
export function chatPassword(lab: LabContext): string {
  return lab.store.secrets.ensure(CHAT_PASSWORD_SECRET, () => generatePassword(40));
}

/** The rules of the `user` line in redis.conf (after "user chat on"). */
export function chatAclRules(channel: string, password: string): string {
  return [
    `#${sha256(password)}`,
    'resetkeys',
    'resetchannels',
    ...chatChannels(channel).map((c) => `&${c}`),
    '-@all',
    ...CHAT_COMMANDS.map((c) => `+${c}`),
  ].join(' ');
}

/**
 * What verify asks Redis about the chat user with ACL DRYRUN (as the default user): each must
 * be refused, or allowed, as written. The allowed ones show the user exists and can do its work.
 */
export function aclProbes(channel: string): { command: string[]; allowed: boolean; why: string }[] {
  return [
    { command: ['CONFIG', 'GET', 'requirepass'], allowed: false, why: 'CONFIG' },
    { command: ['FLUSHALL'], allowed: false, why: 'FLUSHALL' },
    { command: ['KEYS', '*'], allowed: false, why: 'KEYS' },
    { command: ['PUBLISH', 'labctl-outside', 'x'], allowed: false, why: 'PUBLISH outside its channels' },
    { command: ['PUBLISH', `${channel}X#/#`, 'x'], allowed: false, why: `PUBLISH on ${channel}X#/#` },
    { command: ['SUBSCRIBE', 'labctl-outside'], allowed: false, why: 'SUBSCRIBE outside its channels' },
    { command: ['PUBLISH', `${channel}#/#`, 'x'], allowed: true, why: `PUBLISH on ${channel}#/#` },
    { command: ['PSUBSCRIBE', `${channel}#/#*`], allowed: true, why: `PSUBSCRIBE ${channel}#/#*` },
  ];
}
