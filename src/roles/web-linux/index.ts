import path from 'node:path';
import type { Step } from '../../engine/step.js';
import { redisMachine } from '../../spec/types.js';
import { shq, type Transport } from '../../transports/transport.js';
import { OperationError } from '../../util/errors.js';
import { sha256 } from '../../util/hash.js';
import { renderTemplate } from '../../util/template.js';
import { sleep } from '../../util/time.js';
import { getHealth } from '../../verify/http.js';
import type { RoleContext } from '../redis/index.js';
import { CHAT_USER, chatPassword } from '../redis/acl.js';
import { redisTopologySettings } from '../redis/cluster-config.js';
import { asRoot, putFile, withConnection, remoteSha256, runScript, scriptCommand } from '../script.js';
import { loadBundle, type AppBundle } from './bundle.js';
import { webPaths } from './paths.js';

/** Windows-only steps of the seed, which a Linux stand-in reports instead of pretending to do. */
const WINDOWS_ONLY = [
  ['iis', 'IIS with Application Development, WebSocket Protocol and the Management Service'],
  ['wmsvc', 'Web Management Service running, TCP 8172 open'],
  ['webdeploy', 'Web Deploy, URL Rewrite and iisnode'],
] as const;

/**
 * The chat app on a Linux web machine: upload the bundle, write its settings, run it
 * as a service. Upload and settings do not need Redis, so they run while Redis builds;
 * only the start waits for the Redis service.
 */
export function webLinuxSteps(rc: RoleContext, redisServiceStep: string, bundlePromise: Promise<AppBundle> = loadBundle()): Step[] {
  const { lab, access } = rc;
  const m = access.machine;
  const spec = lab.spec;
  const id = (what: string) => `web:${m.name}:${what}`;
  const withMachine = <T>(fn: (t: Transport) => Promise<T>) => withConnection(access, fn);
  const paths = async () => webPaths(access.root, (await bundlePromise).hash);
  const settings = async () =>
    renderTemplate('web-linux/app.env', {
      lab: spec.name,
      node: m.name,
      port: spec.app.port,
      redisHost: redisMachine(spec).ip,
      redisPort: spec.redis.port,
      ...redisTopologySettings(spec),
      redisUser: CHAT_USER,
      passwordFile: (await paths()).passwordFile,
      channel: spec.redis.channel,
      backplane: spec.redis.backplane,
      ratePerSec: spec.app.rateLimit.perSecond,
      rateBurst: spec.app.rateLimit.burst,
    });
  const deployedHash = async () => sha256(`${(await bundlePromise).hash}\n${await settings()}\n${sha256(chatPassword(lab))}`);

  const standIn: Step[] = access.standIn
    ? WINDOWS_ONLY.map(([what, title]) => ({
        id: id(what),
        title: `${m.name}: ${title}`,
        machine: m.name,
        notApplicable: 'Windows only; this netns machine is a Linux stand-in running the app under Node',
        apply: async () => {},
      }))
    : [];

  return [
    ...standIn,
    {
      id: id('upload'),
      title: `${m.name}: upload the chat app bundle`,
      machine: m.name,
      describe: () => ({ command: `sftp dist/app/* -> ${webPaths(access.root, 'HASH').appDir}` }),
      check: async () => {
        const { appDir } = await paths();
        return withMachine(async (t) => (await t.exec(`test -f ${shq(`${appDir}/.complete`)}`)).code === 0);
      },
      apply: async (ctx) => {
        const bundle = await bundlePromise;
        const { appDir } = await paths();
        await withMachine(async (t) => {
          // upload next to the final folder, then rename: a half-uploaded app is never run
          const staging = `${appDir}.partial`;
          await t.run(asRoot(access, `rm -rf ${shq(staging)} && mkdir -p ${shq(staging)}`));
          for (const dir of new Set(bundle.files.map((f) => path.posix.dirname(f)).filter((d) => d !== '.'))) {
            await t.run(asRoot(access, `mkdir -p ${shq(`${staging}/${dir}`)}`));
          }
          for (const f of bundle.files) {
            ctx.progress(`uploading ${f}`);
            await t.upload(path.join(bundle.dir, f), `${staging}/${f}`, 0o644);
          }
          await t.run(asRoot(access, `touch ${shq(`${staging}/.complete`)} && rm -rf ${shq(appDir)} && mv ${shq(staging)} ${shq(appDir)}`));
        });
        return { bundle: bundle.hash.slice(0, 12) };
      },
    },
    {
      id: id('settings'),
      title: `${m.name}: app settings and the password file of Redis user ${CHAT_USER}`,
      machine: m.name,
      describe: () => ({ command: `write app.env (REDIS_USERNAME=${CHAT_USER}) from templates/web-linux/app.env and redis.password (mode 0600, the password of ${CHAT_USER})` }),
      check: async () => {
        const p = await paths();
        const expected = await settings();
        return withMachine(async (t) => {
          const [env, pass] = await Promise.all([remoteSha256(t, access, p.envFile), remoteSha256(t, access, p.passwordFile)]);
          return env === sha256(expected) && pass === sha256(chatPassword(lab));
        });
      },
      apply: async () => {
        const p = await paths();
        const env = await settings();
        await withMachine(async (t) => {
          await putFile(t, access, p.envFile, env, 0o644);
          await putFile(t, access, p.passwordFile, chatPassword(lab), 0o600);
        });
      },
    },
    {
      id: id('service'),
      title: `${m.name}: chat app on port ${spec.app.port}, connected to Redis`,
      machine: m.name,
      deps: [id('upload'), id('settings'), redisServiceStep],
      describe: () => ({ command: scriptCommand('linux/pidfile-service.sh', ['PIDFILE', 'LOGFILE', 'no', 'yes', 'APP_DIR', 'ENV_FILE', access.nodeBinary, 'server.cjs']) }),
      check: async () => {
        const p = await paths();
        const want = await deployedHash();
        const current = await withMachine(async (t) => {
          if ((await runScript(t, access, 'linux/pid-alive.sh', [p.pidFile])).code !== 0) return undefined;
          const r = await t.exec(asRoot(access, `cat ${shq(p.running)}`));
          return r.code === 0 ? r.stdout.trim() : undefined;
        });
        return current === want && (await healthy(rc)) === undefined;
      },
      apply: async (ctx) => {
        const p = await paths();
        const want = await deployedHash();
        await withMachine(async (t) => {
          const before = await t.exec(asRoot(access, `cat ${shq(p.running)}`));
          const restart = before.code === 0 && before.stdout.trim() === want ? 'no' : 'yes';
          const r = await runScript(t, access, 'linux/pidfile-service.sh', [p.pidFile, p.logFile, restart, 'yes', p.appDir, p.envFile, access.nodeBinary, 'server.cjs']);
          if (r.code !== 0) {
            throw new OperationError(`the chat app did not start on ${m.name}`, [...r.stderr.trim().split('\n').slice(-20), `log: ${p.logFile}`]);
          }
          await putFile(t, access, p.running, want + '\n', 0o644);
          ctx.log(`app ${restart === 'yes' ? 'restarted' : 'started'} (pid ${r.stdout.trim().split('\n').pop()})`);
          const deadline = Date.now() + 15_000;
          let problem: string | undefined = 'not checked';
          while (Date.now() < deadline) {
            problem = await healthy(rc);
            if (!problem) return;
            await sleep(100);
          }
          const tail = await t.exec(asRoot(access, `tail -n 20 ${shq(p.logFile)}`));
          throw new OperationError(`the chat app on ${m.name} is not ready: ${problem}`, [
            `last lines of ${p.logFile}:`,
            ...tail.stdout.trimEnd().split('\n').map((l) => `  ${l}`),
          ]);
        });
      },
    },
  ];
}

/** undefined when /healthz answers with this node's name and Redis connected; else what is wrong. */
async function healthy(rc: RoleContext): Promise<string | undefined> {
  try {
    await rc.access.guardRoute?.();
    const h = await getHealth(rc.access.machine.ip, rc.lab.spec.app.port, 1500);
    if (h.node !== rc.access.machine.name) return `/healthz names node ${h.node}`;
    if (h.redis !== 'connected') return `/healthz says Redis is ${h.redis}`;
    return undefined;
  } catch (err) {
    return `/healthz: ${(err as Error).message}`;
  }
}
