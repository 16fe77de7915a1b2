import type { Step } from '../../engine/step.js';
import { LB_PORT, webMachines } from '../../spec/types.js';
import { shq, type Transport } from '../../transports/transport.js';
import { OperationError } from '../../util/errors.js';
import { sha256 } from '../../util/hash.js';
import { sleep } from '../../util/time.js';
import { getHealth } from '../../verify/http.js';
import type { RoleContext } from '../redis/index.js';
import { asRoot, putFile, remoteSha256, runScript, scriptCommand, withConnection } from '../script.js';
import { renderHaproxyConfig } from './config.js';
import { HAPROXY_BINARY, lbPaths } from './paths.js';

/** A fresh Ubuntu VM's first boot holds dpkg's lock for a while (unattended-upgrades): wait for it. */
const HAPROXY_INSTALL = 'export DEBIAN_FRONTEND=noninteractive; apt-get -o DPkg::Lock::Timeout=600 update -q && apt-get -o DPkg::Lock::Timeout=600 install -y -q haproxy';

/**
 * The load balancer: the distribution's HAProxy, its config from templates/lb/haproxy.cfg, running
 * in front of every web machine. It starts once the chat servers run, so its first health checks
 * find them up. `webServiceSteps`: the ids of the web machines' service steps.
 */
export function lbSteps(rc: RoleContext, webServiceSteps: string[]): Step[] {
  const { lab, access } = rc;
  const m = access.machine;
  const spec = lab.spec;
  const paths = lbPaths(access.root);
  const id = (what: string) => `lb:${m.name}:${what}`;
  const withMachine = <T>(fn: (t: Transport) => Promise<T>) => withConnection(access, fn);
  const config = () => renderHaproxyConfig(spec, paths.statsSocket);
  const pidfile = access.services === 'pidfile';

  return [
    {
      id: id('package'),
      title: `${m.name}: HAProxy from the distribution's packages`,
      machine: m.name,
      describe: () => ({ command: `test -x ${HAPROXY_BINARY} || apt-get install -y haproxy` }),
      check: async () => withMachine(async (t) => (await t.exec(`test -x ${HAPROXY_BINARY}`)).code === 0),
      apply: async (ctx) =>
        withMachine(async (t) => {
          if (access.offline) {
            throw new OperationError(`HAProxy is missing on ${m.name}; netns machines use the host's: apt-get install haproxy (scripts/install-system-deps.sh)`);
          }
          ctx.progress('apt-get install haproxy');
          await t.run(asRoot(access, `sh -c ${shq(HAPROXY_INSTALL)}`), { timeoutMs: 900_000 });
        }),
    },
    {
      id: id('config'),
      title: `${m.name}: haproxy.cfg: round-robin over ${webMachines(spec).map((w) => w.name).join(', ')}, sticky cookie, /healthz checks`,
      machine: m.name,
      deps: [id('package')],
      describe: () => ({ command: `write ${paths.config} from templates/lb/haproxy.cfg; haproxy -c -f ${paths.config}` }),
      check: async () => withMachine(async (t) => (await remoteSha256(t, access, paths.config)) === sha256(config())),
      apply: async () =>
        withMachine(async (t) => {
          await putFile(t, access, paths.config, config(), 0o644);
          const r = await t.exec(asRoot(access, `${HAPROXY_BINARY} -c -f ${shq(paths.config)}`));
          if (r.code !== 0) throw new OperationError(`HAProxy refuses ${paths.config} on ${m.name}`, (r.stdout + r.stderr).trim().split('\n').slice(-10));
        }),
    },
    {
      id: id('service'),
      title: `${m.name}: HAProxy on ${m.ip}:${LB_PORT}, answering /healthz from a chat server`,
      machine: m.name,
      deps: [id('config'), ...webServiceSteps],
      describe: () => ({
        command: pidfile ? scriptCommand('lb/haproxy-service.sh', [HAPROXY_BINARY, paths.config, paths.pidFile, 'no']) : 'systemctl enable haproxy && systemctl reload-or-restart haproxy',
      }),
      check: async () => {
        const fresh = await withMachine(async (t) => {
          const alive = pidfile ? await runScript(t, access, 'linux/pid-alive.sh', [paths.pidFile]) : await t.exec(asRoot(access, 'systemctl is-active --quiet haproxy'));
          if (alive.code !== 0) return false;
          const applied = await t.exec(asRoot(access, `cat ${shq(paths.running)}`));
          return applied.code === 0 && applied.stdout.trim() === sha256(config());
        });
        return fresh && (await answers(rc)) === undefined;
      },
      apply: async (ctx) =>
        withMachine(async (t) => {
          const want = sha256(config());
          const applied = await t.exec(asRoot(access, `cat ${shq(paths.running)}`));
          // a running HAProxy with another config reloads: the open WebSockets stay with the old process
          const reload = applied.code !== 0 || applied.stdout.trim() !== want ? 'yes' : 'no';
          const r = pidfile
            ? await runScript(t, access, 'lb/haproxy-service.sh', [HAPROXY_BINARY, paths.config, paths.pidFile, reload])
            : await t.exec(asRoot(access, `sh -c ${shq('systemctl enable haproxy && systemctl reload-or-restart haproxy')}`));
          if (r.code !== 0) throw new OperationError(`HAProxy did not start on ${m.name}`, r.stderr.trim().split('\n').slice(-20));
          await putFile(t, access, paths.running, want + '\n', 0o644);
          ctx.log(`haproxy ${reload === 'yes' ? 'started or reloaded' : 'already running'}${pidfile ? ` (pid ${r.stdout.trim().split('\n').pop()})` : ''}`);
          const deadline = Date.now() + 10_000;
          let problem: string | undefined = 'not checked';
          while (Date.now() < deadline) {
            problem = await answers(rc);
            if (!problem) return { reload };
            await sleep(100);
          }
          throw new OperationError(`the load balancer on ${m.name} does not pass requests to a chat server: ${problem}`);
        }),
    },
  ];
}

/** undefined when GET /healthz through the load balancer reaches one of the lab's chat servers; else what is wrong. */
async function answers(rc: RoleContext): Promise<string | undefined> {
  try {
    await rc.access.guardRoute?.();
    const h = await getHealth(rc.access.machine.ip, LB_PORT, 1500);
    const webs = webMachines(rc.lab.spec).map((w) => w.name);
    return webs.includes(h.node) ? undefined : `/healthz through it names ${h.node}, not one of ${webs.join(', ')}`;
  } catch (err) {
    return `GET http://${rc.access.machine.ip}/healthz: ${(err as Error).message}`;
  }
}
