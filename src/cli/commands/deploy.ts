import path from 'node:path';
import type { Command } from 'commander';
import { readableFile } from '../inputs.js';
import { stepsOfMachines } from '../../engine/order.js';
import { runSteps } from '../../engine/runner.js';
import { deploySteps } from '../../roles/index.js';
import { LabNotCreatedError, UnknownMachineError } from '../../util/errors.js';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { printJson, print } from '../output.js';
import { existsSync } from 'node:fs';
import { publishSettingsPath } from '../../roles/web-windows/index.js';
import { Reporter } from '../reporter.js';

export interface DeployOptions {
  redisTarball?: string;
  /** only these machines (the others are left as they are) */
  machines?: string[];
  /** false with --no-cache: Redis compiled from source, the build cache neither used nor filled */
  cache?: boolean;
}

/** --no-cache, shared by deploy and up. */
export const NO_CACHE_OPTION = ['--no-cache', 'build Redis from source even when the build cache has it, and keep nothing in the cache'] as const;

export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .argument('[machine...]', 'only these machines (default: all); the others are left as they are')
    .description('build Redis from source on the redis machine and run the chat app on every web machine')
    .option('--redis-tarball <file>', 'build Redis from this local source tarball (uploaded over SFTP)', readableFile)
    .option(...NO_CACHE_OPTION)
    .addHelpText(
      'after',
      '\nRedis comes from the build cache (labctl cache ls) when it holds a build of the same source,\nversion, architecture, distribution and compiler; a build from source is kept there.\n\nExamples:\n  sudo labctl deploy\n  sudo labctl deploy --redis-tarball ./redis-7.0.15.tar.gz --verbose\n  sudo labctl deploy web2          # the chat app on web2 again, nothing else\n  sudo labctl deploy --no-cache    # compile Redis even if the cache has it',
    )
    .action(async (machines: string[], opts: DeployOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'deploy');
      try {
        const result = await deployLab(lab, reporter, { ...opts, machines });
        if (g.json) printJson({ ok: true, lab: lab.spec.name, ...result });
        else {
          print(`lab ${lab.spec.name} deployed (${reporter.elapsed()}): labctl verify proves it works`);
          const profiles = Object.entries(result.publishSettings);
          if (profiles.length > 0) {
            print('Web Deploy publish settings (import in Visual Studio: Publish > Import Profile, to publish your own build):');
            for (const [machine, file] of profiles) print(`  ${machine}: ${file}`);
          }
        }
      } finally {
        await lab.close();
      }
    });
}

export function applyDeployOptions(lab: Lab, opts: DeployOptions): void {
  if (opts.redisTarball) lab.spec.redis.source = { kind: 'tarball', path: path.resolve(opts.redisTarball) };
}

/** Runs every deploy step; shared by `deploy` and `up`. The lab must be created. */
export async function deployLab(lab: Lab, reporter: Reporter, opts: DeployOptions = {}) {
  applyDeployOptions(lab, opts);
  const only = opts.machines?.length ? opts.machines : undefined;
  for (const name of only ?? []) {
    if (!lab.spec.machines.some((m) => m.name === name)) {
      throw new UnknownMachineError(name, lab.spec.name, lab.spec.machines.map((m) => m.name));
    }
  }
  const missing = (await lab.provider.status(lab)).filter((m) => m.state !== 'running' && (!only || only.includes(m.name)));
  if (!lab.store.exists() || missing.length > 0) {
    const which = missing.map((m) => `${m.name} is ${m.state}`).join(', ');
    // machines stopped with labctl stop are started, not created
    const next = missing.length > 0 && missing.every((m) => m.state === 'stopped') ? `labctl start ${missing.map((m) => m.name).join(' ')} first` : 'run labctl create first (or labctl up)';
    throw new LabNotCreatedError(`lab ${lab.spec.name} is not up${which ? ` (${which})` : ''}: ${next}`);
  }
  // what must hold before anything changes (a tool the host needs to publish, for example)
  await lab.provider.deployPreflight?.(lab, lab.spec.machines.filter((m) => !only || only.includes(m.name)));
  reporter.phase(`deploy ${lab.spec.name} (${lab.provider.name})${only ? `: ${only.join(', ')}` : ''}`);
  try {
    const all = deploySteps(lab, lab.provider, { buildCache: opts.cache !== false });
    const steps = only ? stepsOfMachines(all, only) : all;
    const r = await runSteps(steps, { store: lab.store, onEvent: (e) => reporter.step(e) });
    const source = lab.store.fact<{ origin: string; kind: string }>('redis:source');
    if (source) reporter.info(`Redis source: ${source.origin}`);
    // the .publishsettings of each Windows web node deployed with Web Deploy: where it is
    const publishSettings: Record<string, string> = {};
    for (const m of lab.spec.machines.filter((x) => x.role === 'web' && x.os === 'windows' && (!only || only.includes(x.name)))) {
      const file = publishSettingsPath(lab, m.name);
      if (existsSync(file)) publishSettings[m.name] = file;
    }
    return { applied: r.applied, skipped: r.skipped, notApplicable: r.notApplicable, redisSource: source?.origin, publishSettings };
  } finally {
    reporter.summary();
  }
}
