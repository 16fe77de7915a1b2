import path from 'node:path';
import type { Step, StepContext } from '../../engine/step.js';
import type { MachineSpec } from '../../spec/types.js';
import type { PowerShellRunner } from '../../transports/powershell.js';
import { PreflightError } from '../../util/errors.js';
import type { LabContext } from '../provider.js';
import type { HypervConfig } from './config.js';
import type { ConsoleTap, ConsoleTapFactory } from './console.js';
import { describeCall, runCall, type ScriptCall, type VmFacts, call } from './scripts.js';
import type { Clock } from './wait.js';

export interface SshProbeResult {
  ok: boolean;
  reason?: string;
}

/** Everything a hyperv step needs, with the host-facing parts replaceable by tests. */
export interface HypervEnv {
  lab: LabContext;
  cfg: HypervConfig;
  /** absent where there is no PowerShell (plan on Linux): steps then have no live checks */
  runner: PowerShellRunner | undefined;
  clock: Clock;
  /** how often each kind of wait looks again */
  pollMs: { install: number; boot: number; ready: number };
  sshProbe(m: MachineSpec, timeoutMs: number): Promise<SshProbeResult>;
  consoleTap: ConsoleTapFactory;
  /** taps already open in this process, by machine */
  taps: Map<string, ConsoleTap>;
}

export function requireRunner(env: Pick<HypervEnv, 'runner'>): PowerShellRunner {
  if (!env.runner) {
    throw new PreflightError('the hyperv provider runs on a Windows host with Hyper-V and Windows PowerShell; here it can only plan (labctl plan --provider hyperv)');
  }
  return env.runner;
}

export function invoke<T>(env: HypervEnv, c: ScriptCall, ctx?: StepContext, timeoutMs?: number): Promise<T> {
  return runCall<T>(requireRunner(env), c, { onLog: (l) => ctx?.log(l), timeoutMs });
}

export function getVm(env: HypervEnv, m: MachineSpec): Promise<VmFacts> {
  return invoke<VmFacts>(env, call.getVm(env.cfg, m), undefined, 120_000);
}

/** The lab's own files for a machine on this side (seed, unattend, console log). */
export function localFile(env: HypervEnv, m: MachineSpec, name: string): string {
  return path.join(env.lab.store.machineDir(m.name), name);
}

export function consoleFile(env: HypervEnv, m: MachineSpec): string {
  return localFile(env, m, 'console.log');
}

/** Starts copying the machine's serial console to its log, once per process. */
export function ensureConsoleTap(env: HypervEnv, m: MachineSpec, pipe: string): void {
  if (!env.taps.has(m.name)) env.taps.set(m.name, env.consoleTap(pipe, consoleFile(env, m)));
}

export function stopConsoleTap(env: HypervEnv, m: MachineSpec): void {
  env.taps.get(m.name)?.stop();
  env.taps.delete(m.name);
}

/** Step ids of one machine: machine:<name>:<what>, as on netns. */
export function machineStepId(m: MachineSpec): (what: string) => string {
  return (what) => `machine:${m.name}:${what}`;
}

export interface ScriptStepOptions {
  id: string;
  title: string;
  machine?: string;
  deps?: string[];
  /** steps naming the same key never run at the same time (Step.exclusive) */
  exclusive?: string;
  call: ScriptCall;
  /** journal resources, write local files: runs before the script */
  before?(ctx: StepContext): void | Promise<void>;
  /** at apply time: true when the work turns out to be done already (the script is not run) */
  skipIf?(ctx: StepContext): Promise<boolean>;
  /** anything after the script (waits, facts); gets the script's result */
  after?(result: unknown, ctx: StepContext): void | Promise<void>;
  /** the live check; dropped when there is no PowerShell here */
  check?(ctx: StepContext): Promise<boolean>;
  /** a check that needs no host (journal and facts only): kept everywhere */
  localCheck?(ctx: StepContext): boolean;
  timeoutMs?: number;
}

/** A step that runs one host script: what it runs is exactly what `plan` shows. */
export function scriptStep(env: HypervEnv, o: ScriptStepOptions): Step {
  const live = env.runner ? o.check : undefined;
  const check =
    live || o.localCheck
      ? async (ctx: StepContext) => {
          if (o.localCheck?.(ctx)) return true;
          return live ? live(ctx) : false;
        }
      : undefined;
  return {
    id: o.id,
    title: o.title,
    machine: o.machine,
    deps: o.deps,
    ...(o.exclusive ? { exclusive: o.exclusive } : {}),
    describe: () => describeCall(o.call),
    ...(check ? { check } : {}),
    apply: async (ctx) => {
      if (await o.skipIf?.(ctx)) return;
      await o.before?.(ctx);
      const result = await invoke<unknown>(env, o.call, ctx, o.timeoutMs);
      await o.after?.(result, ctx);
    },
  };
}
