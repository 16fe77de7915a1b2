import type { Redis } from 'ioredis';
import { aclProbes, CHAT_USER } from '../roles/redis/acl.js';
import type { CheckResult } from './checks.js';
import type { Backplane, RedisTopology } from '../spec/types.js';

/**
 * The chat servers' Redis user can do its work and nothing else: ACL DRYRUN (Redis 7.0+), asked
 * as the default user, refuses CONFIG, FLUSHALL, KEYS and publishing or subscribing outside the
 * backplane's channels, and allows publishing and the adapter's pattern subscription on them.
 */
export async function chatUserLimitedCheck(
  redis: Redis,
  channel: string,
  node: string,
  backplane: Backplane = 'pubsub',
  topology: RedisTopology = 'single',
): Promise<CheckResult> {
  const name = `Redis user ${CHAT_USER} is limited to the backplane`;
  try {
    const wrong: string[] = [];
    const refused: string[] = [];
    for (const p of aclProbes(channel, backplane, topology)) {
      const answer = String(await redis.call('ACL', 'DRYRUN', CHAT_USER, ...p.command));
      const allowed = answer === 'OK';
      if (allowed !== p.allowed) wrong.push(`${p.why}: ${p.allowed ? `refused (${answer})` : 'allowed'}`);
      else if (!allowed) refused.push(p.why);
    }
    return wrong.length === 0
      ? { name, node, ok: true, reason: `ACL DRYRUN refuses ${refused.join(', ')}; allows its own channels` }
      : { name, node, ok: false, reason: wrong.join('; ') };
  } catch (err) {
    const message = (err as Error).message;
    const why = /unknown subcommand|wrong number/i.test(message) ? ' (ACL DRYRUN needs Redis 7.0 or later)' : /User .* not found|no such user/i.test(message) ? ` (no user ${CHAT_USER}: run labctl deploy)` : '';
    return { name, node, ok: false, reason: `ACL DRYRUN failed: ${message}${why}` };
  }
}

/**
 * Every connection of the chat servers (named chat:<node>:pub, :sub and, with streams, :stream by
 * the app) is logged in as the chat user, and every web node has each of them.
 */
export async function chatConnectionsCheck(redis: Redis, nodes: string[], node: string, backplane: Backplane = 'pubsub'): Promise<CheckResult> {
  // the streams backplane adds the connection that reads the stream (chat:<node>:stream)
  const roles = backplane === 'streams' ? ['pub', 'sub', 'stream'] : ['pub', 'sub'];
  const name = `the chat servers connect as Redis user ${CHAT_USER}`;
  try {
    const list = String(await redis.call('CLIENT', 'LIST'));
    const conns = list
      .split('\n')
      .map((l) => ({ name: / name=(\S*)/.exec(l)?.[1] ?? '', user: / user=(\S*)/.exec(l)?.[1] ?? '' }))
      .filter((c) => c.name.startsWith('chat:'));
    const problems: string[] = [];
    for (const n of nodes) {
      const mine = conns.filter((c) => roles.some((r) => c.name === `chat:${n}:${r}`));
      const missing = roles.filter((r) => !mine.some((c) => c.name === `chat:${n}:${r}`));
      if (missing.length > 0) problems.push(`${n}: no connection ${missing.map((r) => `chat:${n}:${r}`).join(', ')} (${mine.length} of its ${roles.length})`);
      for (const c of mine) if (c.user !== CHAT_USER) problems.push(`${c.name} is user ${c.user}`);
    }
    return problems.length === 0
      ? { name, node, ok: true, reason: `${conns.length} connections (${nodes.join(', ')}), all user ${CHAT_USER}` }
      : { name, node, ok: false, reason: problems.join('; ') };
  } catch (err) {
    return { name, node, ok: false, reason: `CLIENT LIST failed: ${(err as Error).message}` };
  }
}
