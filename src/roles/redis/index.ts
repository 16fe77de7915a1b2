import { existsSync } from 'node:fs';
import type { Step, StepContext } from '../../engine/step.js';
import type { LabContext, MachineAccess } from '../../providers/provider.js';
import { generatePassword } from '../../state/secrets.js';
import { LocalTransport } from '../../transports/local.js';
import { shq, type Transport } from '../../transports/transport.js';
import { OperationError } from '../../util/errors.js';
import { sha256, sha256File } from '../../util/hash.js';
import { renderTemplate } from '../../util/template.js';
import { pingRedis } from '../../verify/redis-probe.js';
import { asRoot, putFile, withConnection, remoteSha256, runScript, scriptCommand, uploadFile } from '../script.js';
import { redisPaths } from './paths.js';
import { CHAT_USER, chatAclRules, chatPassword } from './acl.js';
import { effectiveSourceKind, resolveSource, type ResolvedSource } from './source.js';
import { BuildCache } from '../../buildcache/store.js';
import { fillCache, installFromCache, planBuild, type BuildPlan } from './cached-build.js';
import { sleep } from '../../util/time.js';
import { redisMachines } from '../../spec/types.js';
import { clusterBusPort, clusterConfigSection, clusterNftables, isCluster, ufwArgs } from './cluster-config.js';

export const REDIS_PASSWORD_SECRET = 'redis_password';
const SOURCE_FACT = 'redis:source';

export interface RoleContext {
  lab: LabContext;
  providerName: string;
  access: MachineAccess;
  /** false: build from source, and keep nothing (--no-cache) */
  buildCache?: boolean;
}

interface SourceFact extends ResolvedSource {
  /** what was asked for: a different request resolves the source again */
  request: string;
}

export function redisPassword(lab: LabContext): string {
  return lab.store.secrets.ensure(REDIS_PASSWORD_SECRET, () => generatePassword(40));
}

/**
 * The toolchain on a fresh Ubuntu VM. Its first boot starts unattended-upgrades, which holds
 * dpkg's lock for minutes: apt waits for it (up to 10 min) instead of failing at once.
 */
export const TOOLCHAIN_INSTALL =
  'export DEBIAN_FRONTEND=noninteractive; apt-get -o DPkg::Lock::Timeout=600 update -q && apt-get -o DPkg::Lock::Timeout=600 install -y -q build-essential pkg-config';

/** The seed's "Install Redis" section: source, toolchain, build, config, firewall, service. */
export function redisSteps(rc: RoleContext): Step[] {
  const { lab, access } = rc;
  const m = access.machine;
  const spec = lab.spec;
  const paths = redisPaths(access.root, spec.redis.version);
  const id = (what: string) => `redis:${m.name}:${what}`;
  const request = JSON.stringify({ kind: effectiveSourceKind(spec, rc.providerName), source: spec.redis.source, version: spec.redis.version });
  const withMachine = <T>(fn: (t: Transport) => Promise<T>) => withConnection(access, fn);
  const sourceFact = () => {
    const fact = lab.store.fact<SourceFact>(SOURCE_FACT);
    if (!fact || fact.request !== request) throw new OperationError('the Redis source is not resolved yet');
    return fact;
  };

  const renderedConfig = () =>
    renderTemplate('redis/redis.conf', {
      lab: spec.name,
      bind: `${m.ip} 127.0.0.1`,
      port: spec.redis.port,
      password: redisPassword(lab),
      chatUser: CHAT_USER,
      chatRules: chatAclRules(spec.redis.channel, chatPassword(lab), spec.redis.backplane, spec.redis.topology),
      daemonize: access.services === 'pidfile' ? 'yes' : 'no',
      supervised: 'no',
      pidfile: paths.pidFile,
      logfile: paths.logFile,
      dir: paths.dataDir,
    }) + (isCluster(spec) ? clusterConfigSection(spec, m, redisPassword(lab)) : '');

  // redis-server daemonizes itself (daemonize yes) and writes the pidfile
  const daemonArgs = (restart: string) => [paths.pidFile, paths.logFile, restart, 'no', paths.dataDir, '-', `${paths.prefix}/bin/redis-server`, paths.conf];

  const renderedFirewall = () =>
    access.firewall === 'nft'
      ? isCluster(spec)
        ? clusterNftables(spec, m)
        : renderTemplate('redis/nftables.conf', { lab: spec.name, subnet: spec.network.cidr, port: spec.redis.port })
      : `ufw ${ufwArgs(spec, m).join(' ')}`;
  // a cluster's other nodes wait for the first one's source and build: they install its build
  // from the build cache instead of compiling all at once
  const first = redisMachines(spec)[0]!;
  const after = (what: string) => (isCluster(spec) && first.name !== m.name ? [`redis:${first.name}:${what}`] : []);

  // undefined: --no-cache
  const cache = rc.buildCache === false ? undefined : BuildCache.forHome(lab.home);
  let buildPlan: BuildPlan | undefined;
  const buildTitle = () => {
    const into = `Redis ${spec.redis.version} into ${paths.prefix}`;
    if (buildPlan?.from === 'cache') return `${m.name}: install ${into} from the build cache (${buildPlan.key.slice(0, 12)}, no compile)`;
    if (!buildPlan && after('build').length > 0 && cache) return `${m.name}: install ${into} from the build cache once ${first.name} has built it`;
    return `${m.name}: build ${into.replace(' into ', ' from source into ')}${buildPlan ? ` (compiling; ${buildPlan.why})` : ''}`;
  };

  return [
    {
      id: id('source'),
      title: `${m.name}: Redis ${spec.redis.version} source`,
      machine: m.name,
      deps: after('source'),
      describe: () => ({ command: `resolve the ${effectiveSourceKind(spec, rc.providerName)} source of Redis ${spec.redis.version}` }),
      check: async () => {
        const fact = lab.store.fact<SourceFact>(SOURCE_FACT);
        if (!fact || fact.request !== request) return false;
        return !fact.file || (existsSync(fact.file) && (await sha256File(fact.file)) === fact.sha256);
      },
      apply: async (ctx) => {
        const resolved = await resolveSource({
          spec,
          home: lab.home,
          providerName: rc.providerName,
          offline: access.offline,
          fetcher: async () => (access.offline ? new LocalTransport() : access.connect()),
          log: (l) => ctx.log(l),
        });
        lab.store.setFact(SOURCE_FACT, { ...resolved, request } satisfies SourceFact);
        ctx.log(`Redis source: ${resolved.origin}`);
        return { source: resolved.origin };
      },
    },
    {
      id: id('toolchain'),
      title: `${m.name}: make and a C compiler`,
      machine: m.name,
      describe: () => ({ command: 'command -v make cc || apt-get install -y build-essential pkg-config' }),
      check: async () => withMachine(async (t) => (await t.exec('command -v make && command -v cc')).code === 0),
      apply: async (ctx) =>
        withMachine(async (t) => {
          if (access.offline) {
            throw new OperationError(
              `make or a C compiler is missing on ${m.name}; netns machines use the host's: apt-get install build-essential pkg-config`,
            );
          }
          ctx.progress('apt-get install build-essential pkg-config');
          await t.run(asRoot(access, `sh -c ${shq(TOOLCHAIN_INSTALL)}`), { timeoutMs: 900_000 });
        }),
    },
    {
      id: id('build'),
      // the title says where the build comes from, once check() has looked (see buildTitle)
      get title() {
        return buildTitle();
      },
      machine: m.name,
      deps: [id('source'), id('toolchain'), ...after('build')],
      describe: () => ({ command: scriptCommand('redis/build.sh', ['SOURCE', 'SHA256', paths.work, paths.prefix, paths.buildLog, paths.confOrig, '{marker}']) }),
      check: async () => {
        const fact = lab.store.fact<SourceFact>(SOURCE_FACT);
        if (!fact) return false;
        return withMachine(async (t) => {
          const r = await t.exec(`cat ${shq(`${paths.prefix}/.labctl-build.json`)} && test -x ${shq(`${paths.prefix}/bin/redis-server`)}`);
          let installed = false;
          if (r.code === 0) {
            try {
              const marker = JSON.parse(r.stdout.split('\n')[0]!) as { version: string; sha256: string };
              installed = marker.version === spec.redis.version && marker.sha256 === fact.sha256;
            } catch {
              installed = false;
            }
          }
          if (!installed && fact.request === request) buildPlan = await planBuild(t, access, cache, fact);
          return installed;
        });
      },
      apply: async (ctx) =>
        withMachine(async (t) => {
          const source = sourceFact();
          const started = Date.now();
          buildPlan ??= await planBuild(t, access, cache, source);
          const marker = (extra: Record<string, unknown>) =>
            JSON.stringify({ version: source.version, sha256: source.sha256, kind: source.kind, origin: source.origin, builtAt: new Date().toISOString(), ...extra });
          if (buildPlan.from === 'cache' && cache) {
            const plan = buildPlan;
            const r = await installFromCache(t, access, cache, plan, paths, marker({ builtAt: plan.entry.created, fromCache: plan.key }), ctx);
            if (r.ok) return { from: 'cache', cacheKey: plan.key, seconds: Math.round((Date.now() - started) / 100) / 10, source: source.origin };
            ctx.log(`build cache entry ${plan.key}: ${r.why}${r.damaged ? ' (removed)' : ''}`);
            buildPlan = {
              from: 'source',
              key: plan.key,
              fields: plan.fields,
              why: r.damaged ? `build cache entry ${plan.key.slice(0, 12)} was damaged (${r.why}): removed, compiling instead` : `installing from the build cache failed (${r.why}): compiling instead`,
            };
          }
          const built = await buildRedis(t, access, source, paths, ctx, marker({}));
          // a plan from the cache that fell through was turned into one from source above
          const plan = buildPlan as Extract<BuildPlan, { from: 'source' }>;
          let cacheNote = plan.why;
          if (cache && plan.fields) {
            cacheNote = await fillCache(t, access, cache, plan.fields, paths, { origin: source.origin, builtBy: `${spec.name}/${m.name}` }, ctx);
            ctx.log(cacheNote);
          }
          return { ...built, from: 'source', cacheKey: plan.key, cache: cacheNote };
        }),
    },
    {
      id: id('config'),
      title: `${m.name}: redis.conf (bind ${m.ip}, requirepass, protected-mode, user ${CHAT_USER} for the chat servers${isCluster(spec) ? ', cluster-enabled, masterauth' : ''})`,
      machine: m.name,
      deps: [id('build')],
      describe: () => ({ command: `write ${paths.conf} (mode 0600) from templates/redis/redis.conf; keep ${paths.confOrig}` }),
      check: async () =>
        withMachine(async (t) => {
          const [conf, pass] = await Promise.all([remoteSha256(t, access, paths.conf), remoteSha256(t, access, paths.passwordFile)]);
          return conf === sha256(renderedConfig()) && pass === sha256(redisPassword(lab));
        }),
      apply: async () =>
        withMachine(async (t) => {
          await t.run(asRoot(access, `mkdir -p ${[paths.dataDir, paths.logDir, paths.confDir].map(shq).join(' ')}`));
          await putFile(t, access, paths.conf, renderedConfig(), 0o600);
          await putFile(t, access, paths.passwordFile, redisPassword(lab), 0o600);
        }),
    },
    {
      id: id('firewall'),
      title: `${m.name}: firewall: ${spec.redis.port} and 22 from ${spec.network.cidr} only${isCluster(spec) ? `, cluster bus ${clusterBusPort(spec)} from the other redis machines` : ''} (${access.firewall})`,
      machine: m.name,
      describe: () => ({
        command: access.firewall === 'nft' ? `nft -f templates/redis/${isCluster(spec) ? 'nftables-cluster.conf' : 'nftables.conf'}` : scriptCommand('redis/ufw.sh', ufwArgs(spec, m)),
      }),
      check: async () =>
        withMachine(async (t) => {
          const mark = await t.exec(asRoot(access, `cat ${shq(paths.firewallMark)}`));
          if (mark.code !== 0 || mark.stdout.trim() !== sha256(renderedFirewall())) return false;
          const live = await t.exec(asRoot(access, access.firewall === 'nft' ? 'nft list table inet labctl' : 'ufw status'));
          return live.code === 0 && (access.firewall === 'nft' ? /policy drop/.test(live.stdout) : /Status: active/.test(live.stdout));
        }),
      apply: async () =>
        withMachine(async (t) => {
          if (access.firewall === 'nft') {
            // declare-delete-declare replaces the table atomically, whether it existed or not
            const rules = `table inet labctl\ndelete table inet labctl\n${renderedFirewall()}`;
            await t.run(asRoot(access, 'nft -f -'), { stdin: rules });
          } else {
            const r = await runScript(t, access, 'redis/ufw.sh', ufwArgs(spec, m), { timeoutMs: 300_000 });
            if (r.code !== 0) throw new OperationError(`ufw setup failed on ${m.name}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
          }
          await putFile(t, access, paths.firewallMark, sha256(renderedFirewall()) + '\n', 0o644);
        }),
    },
    {
      id: id('service'),
      title: `${m.name}: redis-server running, AUTH + PING answer`,
      machine: m.name,
      deps: [id('config'), id('firewall')],
      describe: () => ({
        command: access.services === 'pidfile' ? scriptCommand('linux/pidfile-service.sh', daemonArgs('no')) : 'systemctl enable --now labctl-redis',
      }),
      check: async () => {
        const fresh = await withMachine(async (t) => {
          const running =
            access.services === 'pidfile'
              ? await runScript(t, access, 'linux/pid-alive.sh', [paths.pidFile])
              : await t.exec(asRoot(access, 'systemctl is-active --quiet labctl-redis'));
          if (running.code !== 0) return false;
          const applied = await t.exec(asRoot(access, `cat ${shq(paths.runningConf)}`));
          return applied.code === 0 && applied.stdout.trim() === sha256(renderedConfig());
        });
        return fresh && (await ping(rc)) === 'PONG';
      },
      apply: async (ctx) =>
        withMachine(async (t) => {
          const applied = await t.exec(asRoot(access, `cat ${shq(paths.runningConf)}`));
          const restart = applied.code !== 0 || applied.stdout.trim() !== sha256(renderedConfig()) ? 'yes' : 'no';
          let r;
          if (access.services === 'pidfile') {
            r = await runScript(t, access, 'linux/pidfile-service.sh', daemonArgs(restart));
          } else {
            const unit = renderTemplate('redis/labctl-redis.service', {
              lab: spec.name,
              version: spec.redis.version,
              prefix: paths.prefix,
              conf: paths.conf,
            });
            await putFile(t, access, paths.unitUpload, unit, 0o644);
            r = await runScript(t, access, 'redis/install-service.sh', [paths.unitUpload, paths.dataDir, paths.logDir, paths.conf, restart]);
          }
          if (r.code !== 0) {
            throw new OperationError(`redis-server did not start on ${m.name}`, [
              ...r.stderr.trim().split('\n').slice(-20),
              `log: ${paths.logFile} (labctl ssh ${m.name} -- tail -n 50 ${paths.logFile})`,
            ]);
          }
          await putFile(t, access, paths.runningConf, sha256(renderedConfig()) + '\n', 0o644);
          ctx.log(`redis-server ${restart === 'yes' ? 'restarted' : 'started'} (pid ${r.stdout.trim().split('\n').pop()})`);
          const deadline = Date.now() + 10_000;
          let answer = '';
          while (Date.now() < deadline) {
            answer = await ping(rc);
            if (answer === 'PONG') return;
            await sleep(100);
          }
          const tail = await t.exec(asRoot(access, `tail -n 20 ${shq(paths.logFile)}`));
          throw new OperationError(`Redis on ${m.name} does not answer AUTH + PING from the host: ${answer}`, [
            `last lines of ${paths.logFile}:`,
            ...tail.stdout.trim().split('\n').map((l) => `  ${l}`),
          ]);
        }),
    },
  ];
}

async function ping(rc: RoleContext): Promise<string> {
  await rc.access.guardRoute?.();
  return pingRedis({ host: rc.access.machine.ip, port: rc.lab.spec.redis.port, password: redisPassword(rc.lab) }, 1500);
}

/** Uploads the source when the host has it, runs build.sh, and turns its exit codes into clear errors. */
async function buildRedis(
  t: Transport,
  access: MachineAccess,
  source: SourceFact,
  paths: ReturnType<typeof redisPaths>,
  ctx: StepContext,
  marker: string,
): Promise<Record<string, unknown>> {
  const started = Date.now();
  let from = source.url ?? '';
  if (source.file) {
    ctx.progress('uploading the source');
    await t.run(asRoot(access, `mkdir -p ${shq(paths.work)}`));
    await uploadFile(t, access, source.file, paths.upload);
    from = paths.upload;
  }
  let compiled = 0;
  let partial = '';
  const r = await runScript(t, access, 'redis/build.sh', [from, source.sha256, paths.work, paths.prefix, paths.buildLog, paths.confOrig, marker], {
    timeoutMs: 3_600_000,
    onStdout: (chunk) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        // Redis's make colours its "CC file.o" lines (escape codes even into a pipe)
        const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
        if (/^\s+(CC|LINK|AR)\s/.test(line)) compiled++;
        ctx.log(line);
      }
      ctx.progress(`compiling: ${compiled} files`);
    },
  });
  const why = r.stderr.trim().split('\n').slice(-3).join(' / ');
  switch (r.code) {
    case 0:
      return { seconds: Math.round((Date.now() - started) / 100) / 10, source: source.origin };
    case 3:
      throw new OperationError(`the Redis source on ${access.machine.name} does not match its sha256: ${why}`);
    case 4:
      throw new OperationError(`the Redis source (${source.origin}) is not a usable tarball: ${why}; nothing was installed`);
    case 5: {
      const tail = await t.exec(asRoot(access, `tail -n 30 ${shq(paths.buildLog)}`));
      throw new OperationError(`building Redis on ${access.machine.name} failed; last 30 lines of the build log:`, [
        ...tail.stdout.trimEnd().split('\n').map((l) => `  ${l}`),
        `whole log: ${paths.buildLog} (labctl ssh ${access.machine.name} -- cat ${paths.buildLog})`,
      ]);
    }
    case 7:
      throw new OperationError(`${access.machine.name} could not download ${source.url}: ${why}`);
    default:
      throw new OperationError(`installing Redis on ${access.machine.name} failed (exit ${r.code}): ${why}`, [`log: ${paths.buildLog}`]);
  }
}
