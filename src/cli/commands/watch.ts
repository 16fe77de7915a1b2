import type { Command } from 'commander';
import { redisMachine } from '../../spec/types.js';
import { redisPassword, REDIS_PASSWORD_SECRET } from '../../roles/redis/index.js';
import { openTap, type BackplaneMessage, type Tap } from '../../verify/backplane.js';
import { clusterMembers } from '../../verify/channel-shard.js';
import { ShardTap } from '../../verify/shard-tap.js';
import { LabNotCreatedError, OperationError } from '../../util/errors.js';
import { openLab, type GlobalOptions } from '../context.js';
import { positiveInt } from './verify.js';

interface WatchOptions {
  count?: number;
  for?: number;
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('show the backplane traffic: every message the servers publish to Redis, decoded (the seed\'s redis-cli step)')
    .option('--count <n>', 'stop after this many messages', positiveInt(1_000_000))
    .option('--for <seconds>', 'stop after this many seconds', positiveInt(86_400))
    .addHelpText(
      'after',
      '\nCtrl-C ends it. With --json, one JSON object per line.\n\nExamples:\n  labctl watch\n  labctl watch --count 10 --json',
    )
    .action(async (opts: WatchOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const lab = openLab(g, 'watch', { lock: false });
      const redis = redisMachine(lab.spec);
      if (!lab.store.secrets.has(REDIS_PASSWORD_SECRET)) throw new LabNotCreatedError(`lab ${lab.spec.name} has no Redis yet: run labctl deploy`);
      await lab.provider.access(lab, redis).guardRoute?.();
      // a Redis Cluster: the sharded channel, on whichever node serves its slot (followed through a failover)
      const cluster = lab.spec.redis.topology === 'cluster';
      const members = clusterMembers(lab.spec);
      const tap: Tap = cluster
        ? new ShardTap(members.map((m) => ({ host: m.host, port: m.port })), redisPassword(lab), lab.spec.redis.channel)
        : openTap({ host: redis.ip, port: lab.spec.redis.port, password: redisPassword(lab) }, lab.spec.redis.channel, lab.spec.redis.backplane);
      const where = cluster ? `the cluster (${members.map((m) => m.name).join(', ')})` : `${redis.name} (${redis.ip}:${lab.spec.redis.port})`;
      let seen = 0;
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          clearTimeout(timer);
          tap.stop().then(resolve, reject);
        };
        const timer = opts.for ? setTimeout(stop, opts.for * 1000) : undefined;
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        tap.onMessage((m) => {
          if (g.json) process.stdout.write(JSON.stringify(m) + '\n');
          else process.stdout.write(formatMessage(m) + '\n');
          if (opts.count && ++seen >= opts.count) stop();
        });
        tap
          .start()
          .then(() => {
            if (!g.json) process.stderr.write(`watching ${tap.describe} on ${where}; Ctrl-C to stop\n`);
          })
          .catch((err: Error) => {
            clearTimeout(timer);
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            void tap.stop();
            reject(new OperationError(`cannot read the backplane on ${cluster ? 'the cluster' : redis.name}: ${err.message}`));
          });
      });
    });
}

export function formatMessage(m: BackplaneMessage): string {
  const time = m.at.toISOString().slice(11, 23);
  const from = m.origin ?? (m.serverUid ? `server ${m.serverUid}` : '?');
  let what: string;
  if (m.chats) {
    const lines = m.chats.map((c) => `${c?.name ?? '?'}: ${String(c?.text ?? '')}`);
    what = m.chats.length === 1 ? `chat  ${short(lines[0]!)}` : `chats (${m.chats.length})  ${short(lines.join(' | '))}`;
  } else if (m.event) what = `${m.event}  ${short(JSON.stringify(m.payload))}`;
  else what = `${m.kind}  ${short(JSON.stringify(m.payload))}`;
  return `${time}  ${m.channel}  ${from}  ${what}`;
}

function short(text: string, max = 80): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
