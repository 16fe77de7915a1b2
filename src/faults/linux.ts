import { performance } from 'node:perf_hooks';
import type { LabContext, MachineAccess } from '../providers/provider.js';
import { redisPassword } from '../roles/redis/index.js';
import { redisPaths } from '../roles/redis/paths.js';
import { asRoot, runScript } from '../roles/script.js';
import { webPaths } from '../roles/web-linux/paths.js';
import { shq } from '../transports/transport.js';
import { OperationError } from '../util/errors.js';
import { getHealth } from '../verify/http.js';
import { pingRedis } from '../verify/redis-probe.js';
import { pollUntil } from './poll.js';
import type { PreparedFault } from './types.js';

/**
 * Faults of the services on a Linux machine labctl reaches over SSH, done the way the machine's
 * service manager does them: the same pidfile-service.sh the deploy starts them with (netns), or
 * systemctl (a VM). The connection is opened in prepare(), so run() acts at once.
 */

/** How long a restarted service gets to answer again before the fault run gives up on it. */
const BACK_WITHIN_MS = 20_000;
/** the fault is over when `check` holds, at most BACK_WITHIN_MS after it began */
const backWithin = (what: string, check: () => Promise<boolean>) => pollUntil(what, check, BACK_WITHIN_MS);

/** Redis restarted as a service restart does it: SIGTERM (it has no persistence: its data goes), then started again. */
export async function prepareRedisRestart(lab: LabContext, access: MachineAccess): Promise<PreparedFault> {
  const spec = lab.spec;
  const m = access.machine;
  const paths = redisPaths(access.root, spec.redis.version);
  const t = await access.connect();
  const target = { host: m.ip, port: spec.redis.port, password: redisPassword(lab) };
  return {
    async run() {
      const startedAt = performance.now();
      const r =
        access.services === 'pidfile'
          ? // as the Redis role starts it (src/roles/redis/index.ts, its service step), with restart=yes
            await runScript(t, access, 'linux/pidfile-service.sh', [paths.pidFile, paths.logFile, 'yes', 'no', paths.dataDir, '-', `${paths.prefix}/bin/redis-server`, paths.conf])
          : await t.exec(asRoot(access, 'systemctl restart labctl-redis'));
      if (r.code !== 0) throw new OperationError(`restarting Redis on ${m.name} failed: ${r.stderr.trim().split('\n').pop()}`);
      const endedAt = await backWithin(`Redis on ${m.name} answering again`, async () => (await pingRedis(target, 500)) === 'PONG');
      return { kind: 'redis-restart', target: m.name, startedAt, endedAt, detail: `redis-server restarted on ${m.name} (pid ${r.stdout.trim().split('\n').pop() ?? '?'})` };
    },
    close: () => t.close(),
  };
}

/**
 * The chat app killed (SIGKILL: a crash, nothing is saved) and started again as the deploy starts
 * it, from the folder and settings the killed process ran with.
 */
export async function prepareAppKill(lab: LabContext, access: MachineAccess): Promise<PreparedFault> {
  const spec = lab.spec;
  const m = access.machine;
  const paths = webPaths(access.root, '');
  const t = await access.connect();
  try {
    const pid = (await t.exec(asRoot(access, `cat ${shq(paths.pidFile)}`))).stdout.trim();
    if (!/^\d+$/.test(pid)) throw new OperationError(`the chat app on ${m.name} is not running (no pid in ${paths.pidFile}): labctl deploy ${m.name}`);
    const cwd = await t.exec(asRoot(access, `readlink /proc/${pid}/cwd`));
    const appDir = cwd.stdout.trim();
    if (cwd.code !== 0 || !appDir) throw new OperationError(`the chat app on ${m.name} (pid ${pid}) is not running: labctl deploy ${m.name}`);
    return {
      async run() {
        const startedAt = performance.now();
        const kill = await t.exec(asRoot(access, `kill -9 ${pid} && while kill -0 ${pid} 2>/dev/null && [ "$(cut -d' ' -f3 /proc/${pid}/stat 2>/dev/null)" != Z ]; do sleep 0.02; done`));
        if (kill.code !== 0) throw new OperationError(`kill -9 ${pid} on ${m.name} failed: ${kill.stderr.trim()}`);
        const r = await runScript(t, access, 'linux/pidfile-service.sh', [paths.pidFile, paths.logFile, 'no', 'yes', appDir, paths.envFile, access.nodeBinary, 'server.cjs']);
        if (r.code !== 0) throw new OperationError(`the chat app did not start again on ${m.name}: ${r.stderr.trim().split('\n').pop()}`);
        const endedAt = await backWithin(`the chat app on ${m.name} serving with Redis connected`, async () => {
          const h = await getHealth(m.ip, spec.app.port, 500).catch(() => undefined);
          return h?.redis === 'connected';
        });
        return { kind: 'web-kill', target: m.name, startedAt, endedAt, detail: `chat app on ${m.name} killed (SIGKILL, pid ${pid}) and started again (pid ${r.stdout.trim().split('\n').pop() ?? '?'})` };
      },
      close: () => t.close(),
    };
  } catch (err) {
    await t.close();
    throw err;
  }
}
