import { performance } from 'node:perf_hooks';
import type { LabContext, MachineAccess } from '../providers/provider.js';
import { redisPassword } from '../roles/redis/index.js';
import { redisPaths } from '../roles/redis/paths.js';
import { asRoot, runScript } from '../roles/script.js';
import { redisMachines, webMachines } from '../spec/types.js';
import { shq } from '../transports/transport.js';
import { OperationError, UsageError } from '../util/errors.js';
import { clusterMembers, describeShard, findChannelShard, type ChannelShard } from '../verify/channel-shard.js';
import { getHealth } from '../verify/http.js';
import { withRedis } from '../verify/redis-probe.js';
import { pollUntil } from './poll.js';
import type { PreparedFault } from './types.js';

/** How long the promotion and the servers' return get before the fault run gives up on them. */
const BACK_WITHIN_MS = 30_000;
/** the fault is over when `check` holds, at most BACK_WITHIN_MS after it began */
const backWithin = (what: string, check: () => Promise<boolean>) => pollUntil(what, check, BACK_WITHIN_MS);

/**
 * The master of the chat channel's shard killed (SIGKILL: a crashed machine's Redis, nothing
 * said to anyone), found when prepared. Its replica must notice (cluster-node-timeout), win the
 * election and take the slots; the chat servers must follow it (ioredis's slot refresh, their
 * sharded subscriber on the new master). The fault is over when the replica serves the channel
 * and every web node reports Redis connected. Afterwards the killed node is started again, as
 * its service would be, and rejoins as a replica of the new master, so the lab is whole again.
 */
export async function prepareRedisFailover(lab: LabContext, access: (name: string) => MachineAccess): Promise<PreparedFault> {
  const spec = lab.spec;
  if (spec.redis.topology !== 'cluster') throw new UsageError('--fault redis-failover needs a Redis Cluster (redis.topology: cluster)');
  if (spec.redis.replicasPerMaster < 1) throw new UsageError('--fault redis-failover needs a replica to promote (redis.replicasPerMaster: 1)');
  const password = redisPassword(lab);
  const members = clusterMembers(spec);
  const shard = await findChannelShard(members, spec.redis.channel, password).catch((err: Error) => {
    throw new OperationError(`redis-failover: ${err.message}`);
  });
  const replica = shard.replicas.find((r) => r.health !== 'failed');
  if (!replica) throw new OperationError(`redis-failover: the chat channel's shard has no replica that could take over (${describeShard(shard)})`);
  const replicaMachine = redisMachines(spec).find((m) => m.name === replica.name);
  // a replica that never synced refuses to fail over ("data too old"): wait for its link first
  if (replicaMachine) await waitForLink(replicaMachine.ip, spec.redis.port, password, replica.name);
  const machine = redisMachines(spec).find((m) => m.name === shard.master.name);
  if (!machine) throw new OperationError(`redis-failover: the channel's master ${shard.master.addr} is none of the lab's redis machines`);
  const a = access(machine.name);
  const paths = redisPaths(a.root, spec.redis.version);
  const t = await a.connect();
  try {
    const pid = (await t.exec(asRoot(a, `cat ${shq(paths.pidFile)}`))).stdout.trim();
    if (!/^\d+$/.test(pid)) throw new OperationError(`Redis on ${machine.name} is not running (no pid in ${paths.pidFile}): labctl deploy ${machine.name}`);
    return {
      async run() {
        const startedAt = performance.now();
        const kill = await t.exec(asRoot(a, `kill -9 ${pid} && while kill -0 ${pid} 2>/dev/null && [ "$(cut -d' ' -f3 /proc/${pid}/stat 2>/dev/null)" != Z ]; do sleep 0.02; done`));
        if (kill.code !== 0) throw new OperationError(`kill -9 ${pid} on ${machine.name} failed: ${kill.stderr.trim()}`);
        let promoted: ChannelShard | undefined;
        const promotedAt = await backWithin(`a replica of ${machine.name} promoted to serve ${shard.channel}`, async () => {
          const now = await findChannelShard(members.filter((m) => m.name !== machine.name), spec.redis.channel, password, 500).catch(() => undefined);
          if (now && now.master.addr !== shard.master.addr) promoted = now;
          return promoted !== undefined;
        });
        const endedAt = await backWithin('every web node back on the cluster (its /healthz: redis connected)', async () => {
          const states = await Promise.all(webMachines(spec).map((w) => getHealth(w.ip, spec.app.port, 500).then((h) => h.redis, () => 'down')));
          return states.every((s) => s === 'connected');
        });
        const rejoin = await restart(t, a, paths).catch((err: Error) => `not started again: ${err.message}`);
        return {
          kind: 'redis-failover',
          target: machine.name,
          startedAt,
          endedAt,
          detail:
            `${machine.name} (${shard.master.addr}, master of ${shard.channel}, slot ${shard.slot}) killed (SIGKILL, pid ${pid}); ` +
            `${promoted!.master.name} promoted after ${Math.round(promotedAt - startedAt)} ms; every web node connected again after ${Math.round(endedAt - startedAt)} ms; ` +
            `${machine.name} ${rejoin}`,
        };
      },
      close: () => t.close(),
    };
  } catch (err) {
    await t.close();
    throw err;
  }
}

/** Starts the killed node again the way its service does; it rejoins the cluster as a replica. */
async function restart(t: Awaited<ReturnType<MachineAccess['connect']>>, a: MachineAccess, paths: ReturnType<typeof redisPaths>): Promise<string> {
  const r =
    a.services === 'pidfile'
      ? await runScript(t, a, 'linux/pidfile-service.sh', [paths.pidFile, paths.logFile, 'no', 'no', paths.dataDir, '-', `${paths.prefix}/bin/redis-server`, paths.conf])
      : await t.exec(asRoot(a, 'systemctl start labctl-redis'));
  if (r.code !== 0) throw new Error(r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`);
  return `started again (pid ${r.stdout.trim().split('\n').pop() || '?'}), rejoining as a replica`;
}

async function waitForLink(host: string, port: number, password: string, name: string): Promise<void> {
  await backWithin(`${name}'s replication link up (a replica that never synced cannot take over)`, async () => {
    const info = await withRedis({ host, port, password }, (c) => c.info('replication'), 1000).catch(() => '');
    return /master_link_status:up/.test(info);
  });
}
