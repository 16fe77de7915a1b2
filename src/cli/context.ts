import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSpec } from '../spec/load.js';
import type { LabSpec, ProviderName } from '../spec/types.js';
import { LabStore } from '../state/store.js';
import { SpecError, UsageError } from '../util/errors.js';
import { providerFor } from '../providers/index.js';
import type { LabContext, Provider } from '../providers/provider.js';
import { ConnectionPool } from '../transports/pool.js';

export interface GlobalOptions {
  spec?: string;
  provider?: string;
  home?: string;
  json?: boolean;
  verbose?: boolean;
}

export const DEFAULT_SPEC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../vm-specs/signalr-redis.yaml');

/** --spec, else ./labctl.yaml when present, else the packaged seed lab. */
export function resolveSpecPath(opts: GlobalOptions): string {
  if (opts.spec) return opts.spec;
  if (existsSync('labctl.yaml')) return 'labctl.yaml';
  return DEFAULT_SPEC;
}

export function resolveHome(opts: GlobalOptions): string {
  return path.resolve(opts.home ?? process.env.LABCTL_HOME ?? path.join(os.homedir(), '.labctl'));
}

export function resolveProviderName(opts: GlobalOptions, spec: LabSpec, recorded?: string): ProviderName {
  if (opts.provider !== undefined && opts.provider !== 'netns' && opts.provider !== 'hyperv') {
    throw new UsageError(`--provider must be netns or hyperv (got "${opts.provider}")`);
  }
  const chosen = (opts.provider as ProviderName | undefined) ?? (recorded as ProviderName | undefined) ?? spec.provider;
  if (recorded && chosen !== recorded) {
    throw new UsageError(`lab ${spec.name} exists with the ${recorded} provider; tear it down before using ${chosen}`);
  }
  return chosen ?? (process.platform === 'win32' ? 'hyperv' : 'netns');
}

export interface Lab extends LabContext {
  provider: Provider;
  connections: ConnectionPool;
  /** close the command's connections and release the lab's lock (safe to call twice) */
  close(): Promise<void>;
}

/**
 * Loads the spec, picks the provider, validates the spec for it, and (unless `lock` is
 * false) takes the lab's lock. Nothing is created on disk before the spec is valid.
 */
export function openLab(opts: GlobalOptions, command: string, { lock = true } = {}): Lab {
  const spec = loadSpec(resolveSpecPath(opts));
  const home = resolveHome(opts);
  const store = new LabStore(home, spec.name);
  const recorded = store.peek()?.provider;
  const provider = providerFor(resolveProviderName(opts, spec, recorded));
  const problems = provider.validate(spec);
  if (problems.length > 0) throw new SpecError(problems.map((p) => `${spec.file}:${p.field}: ${p.message}`));
  if (lock) store.open(command);
  else store.openReadOnly();
  const connections = new ConnectionPool();
  return {
    spec,
    store,
    home,
    provider,
    connections,
    close: async () => {
      await connections.closeAll();
      store.close();
    },
  };
}

/** labctl's own options, which a command passing its arguments on must not swallow. */
const LABCTL_OPTIONS = ['--spec', '--provider', '--home', '--json', '--verbose'];

/**
 * The arguments of a command that passes them on (ssh, redis-cli): labctl's own options among
 * them, before a `--`, are refused rather than passed on, so `labctl redis-cli INFO --spec
 * other.yaml` cannot run against the default lab. After `--` everything is the command's.
 */
export function refuseLabctlOptions(command: string, args: string[]): string[] {
  const dashes = args.indexOf('--');
  const before = dashes === -1 ? args : args.slice(0, dashes);
  const own = before.find((a) => LABCTL_OPTIONS.some((o) => a === o || a.startsWith(`${o}=`)));
  if (own) {
    const name = own.split('=')[0];
    throw new UsageError(
      `${name} after the arguments of labctl ${command} would be passed on, not used by labctl: put it before the command (labctl ${name} ... ${command} ...), or after -- to pass it on`,
    );
  }
  return dashes === -1 ? args : [...before, ...args.slice(dashes + 1)];
}
