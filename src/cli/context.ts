import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSpec, parseSpec } from '../spec/load.js';
import { describeChanges, specChanges } from '../spec/changes.js';
import { LAB_NAME } from '../spec/schema.js';
import type { LabSpec, ProviderName } from '../spec/types.js';
import { LabStore, labsRoot } from '../state/store.js';
import { LabNotCreatedError, SpecError, UsageError } from '../util/errors.js';
import { providerFor } from '../providers/index.js';
import type { LabContext, Provider } from '../providers/provider.js';
import { ConnectionPool } from '../transports/pool.js';
import { checkHome, checkSpecOption } from './inputs.js';

export interface GlobalOptions {
  spec?: string;
  /** a lab by name, through the spec recorded at create */
  lab?: string;
  provider?: string;
  home?: string;
  json?: boolean;
  verbose?: boolean;
}

export const DEFAULT_SPEC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../vm-specs/signalr-redis.yaml');

/** --spec, else ./labctl.yaml when present, else the packaged seed lab. */
export function resolveSpecPath(opts: GlobalOptions): string {
  checkSpecOption(opts.spec);
  if (opts.spec) return opts.spec;
  if (existsSync('labctl.yaml')) return 'labctl.yaml';
  return DEFAULT_SPEC;
}

export function resolveHome(opts: GlobalOptions): string {
  const given = opts.home ?? process.env.LABCTL_HOME;
  checkHome(given, opts.home === undefined ? 'LABCTL_HOME' : '--home');
  return path.resolve(given ?? path.join(os.homedir(), '.labctl'));
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
  /** set when the spec file differs from the one recorded at create (or its copy is used with --lab) */
  notices: string[];
  /** close the command's connections and release the lab's lock (safe to call twice) */
  close(): Promise<void>;
}

export interface ResolvedSpec {
  spec: LabSpec;
  store: LabStore;
  /** what to tell the user about the spec: changed since create, the recorded copy in use */
  notices: string[];
}

/**
 * The lab a command works on and its spec. With --lab NAME: the spec recorded in the lab's
 * folder at create (so a lab can be reached, and torn down, after its YAML is gone); with
 * --spec as well, that file, which must name the same lab. Otherwise the spec file (--spec,
 * ./labctl.yaml, the packaged one). Either way, when the file and the recorded copy differ,
 * `notices` says what changed and what `command` does about it.
 */
export function resolveLab(opts: GlobalOptions, command: string): ResolvedSpec {
  const home = resolveHome(opts);
  if (opts.lab !== undefined) {
    if (!LAB_NAME.test(opts.lab)) throw new UsageError(`--lab ${JSON.stringify(opts.lab)} is not a lab name (lowercase letters, digits and -)`);
    const store = new LabStore(home, opts.lab);
    const state = store.peek();
    const recorded = store.recordedSpec();
    if (!state || (recorded === undefined && !existsSync(state.spec.file))) {
      throw new LabNotCreatedError(`no lab ${opts.lab} under ${labsRoot(home)}${state ? ' with a recorded spec' : ''} (labctl ls lists the labs there)`);
    }
    const original = state.spec.file;
    const fromRecord = () => (recorded !== undefined ? parseSpec(recorded, original) : loadSpec(original));
    if (opts.spec !== undefined) {
      const spec = loadSpec(opts.spec);
      if (spec.name !== opts.lab) {
        throw new UsageError(`--lab ${opts.lab} and --spec ${opts.spec} disagree: that file describes lab ${spec.name}; give one of them, or the spec of ${opts.lab}`);
      }
      return { spec, store, notices: changeNotices(fromRecord, spec, command) };
    }
    const spec = fromRecord();
    const notices: string[] = [];
    if (recorded !== undefined && existsSync(original)) {
      try {
        const current = loadSpec(original);
        if (current.hash !== spec.hash) {
          const lines = describeChanges(original, specChanges(spec, current), command);
          if (lines.length > 0) notices.push(lines[0]!, `  --lab ${opts.lab} uses the spec recorded at create; --spec ${original} uses the file`);
        }
      } catch {
        notices.push(`${original} no longer loads as a spec; --lab ${opts.lab} uses the copy recorded at create`);
      }
    }
    return { spec, store, notices };
  }
  const spec = loadSpec(resolveSpecPath(opts));
  const store = new LabStore(home, spec.name);
  return { spec, store, notices: changeNotices(() => recordedOf(store, spec), spec, command) };
}

function recordedOf(store: LabStore, spec: LabSpec): LabSpec | undefined {
  const text = store.recordedSpec();
  return text === undefined ? undefined : parseSpec(text, spec.file);
}

function changeNotices(recorded: () => LabSpec | undefined, spec: LabSpec, command: string): string[] {
  let before: LabSpec | undefined;
  try {
    before = recorded();
  } catch {
    return []; // a copy that no longer parses (a newer schema): nothing to compare with
  }
  if (!before || before.hash === spec.hash) return [];
  return describeChanges(spec.file, specChanges(before, spec), command);
}

/** Says the notices on stderr (not with --json: stdout is for JSON, and these are advice). */
export function showNotices(lab: { notices: string[] }, opts: GlobalOptions): void {
  if (opts.json) return;
  for (const line of lab.notices) process.stderr.write(`labctl: ${line}\n`);
}

/**
 * Loads the spec, picks the provider, validates the spec for it, and (unless `lock` is
 * false) takes the lab's lock. Nothing is created on disk before the spec is valid.
 */
export function openLab(opts: GlobalOptions, command: string, { lock = true } = {}): Lab {
  const { spec, store, notices } = resolveLab(opts, command);
  const home = resolveHome(opts);
  const recorded = store.peek()?.provider;
  const provider = providerFor(resolveProviderName(opts, spec, recorded));
  const problems = provider.validate(spec);
  if (problems.length > 0) throw new SpecError(problems.map((p) => `${spec.file}:${p.field}: ${p.message}`));
  if (lock) store.open(command);
  else store.openReadOnly();
  const connections = new ConnectionPool();
  const lab: Lab = {
    spec,
    store,
    home,
    provider,
    connections,
    notices,
    close: async () => {
      await connections.closeAll();
      store.close();
    },
  };
  showNotices(lab, opts);
  return lab;
}

/** labctl's own options, which a command passing its arguments on must not swallow. */
const LABCTL_OPTIONS = ['--spec', '--lab', '--provider', '--home', '--json', '--verbose'];

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
