import { stepsOfMachines } from '../engine/order.js';
import { runSteps, type RunResult } from '../engine/runner.js';
import type { Step } from '../engine/step.js';
import type { LivingOps, MachineStatus } from '../providers/provider.js';
import { deploySteps } from '../roles/index.js';
import { redisMachines, type MachineSpec } from '../spec/types.js';
import { CLUSTER_CREATE_STEP } from '../roles/redis/cluster.js';
import type { LabStore } from '../state/store.js';
import { LabNotCreatedError, OperationError, UnknownMachineError, UsageError } from '../util/errors.js';
import type { Lab } from '../cli/context.js';
import type { Reporter } from '../cli/reporter.js';
import { stoppedFact, type StoppedFact } from './facts.js';

/** The provider's living operations, or a clear refusal. */
export function livingOps(lab: Lab): LivingOps {
  const ops = lab.provider.living?.(lab);
  if (!ops) throw new UsageError(`the ${lab.provider.name} provider cannot stop, start or checkpoint machines`);
  return ops;
}

/** The named machines (all when none are named), in spec order; unknown names are refused. */
export function machinesNamed(lab: Lab, names: string[] = []): MachineSpec[] {
  for (const n of names) {
    if (!lab.spec.machines.some((m) => m.name === n)) throw new UnknownMachineError(n, lab.spec.name, lab.spec.machines.map((m) => m.name));
  }
  return names.length === 0 ? [...lab.spec.machines] : lab.spec.machines.filter((m) => names.includes(m.name));
}

export function requireCreated(lab: Lab): void {
  if (!lab.store.exists()) throw new LabNotCreatedError(`lab ${lab.spec.name} is not created: run labctl create first (or labctl up)`);
}

/** Live states of these machines; a machine that does not exist is refused, naming the way back. */
export async function liveStates(lab: Lab, machines: MachineSpec[]): Promise<Map<string, MachineStatus>> {
  const all = await lab.provider.status(lab);
  const states = new Map(all.map((s) => [s.name, s]));
  const missing = machines.filter((m) => states.get(m.name)?.state === 'missing');
  if (missing.length > 0) {
    const names = missing.map((m) => m.name);
    throw new LabNotCreatedError(
      `${names.join(', ')} ${names.length === 1 ? 'does' : 'do'} not exist${states.get(names[0]!)?.detail ? ` (${states.get(names[0]!)!.detail})` : ''}: labctl create makes ${names.length === 1 ? 'it' : 'them'} (labctl recreate ${names[0]} remakes one)`,
    );
  }
  return states;
}

/** True when deploy has put something on this machine (its services are then started again by start). */
export function isDeployed(store: LabStore, machine: string): boolean {
  return Object.keys(store.state?.steps ?? {}).some((id) => id.startsWith(`redis:${machine}:`) || id.startsWith(`web:${machine}:`));
}

export interface StopResult {
  stopped: string[];
  alreadyStopped: string[];
}

/** `labctl stop`: the running machines among these are stopped (their disks kept). */
export async function stopMachines(lab: Lab, machines: MachineSpec[], opts: { save: boolean }, reporter: Reporter): Promise<StopResult> {
  requireCreated(lab);
  const ops = livingOps(lab);
  const states = await liveStates(lab, machines);
  const running = machines.filter((m) => states.get(m.name)?.state === 'running');
  const already = machines.filter((m) => states.get(m.name)?.state !== 'running').map((m) => m.name);
  if (running.length > 0) {
    reporter.phase(`stop ${lab.spec.name} (${lab.provider.name}): ${running.map((m) => m.name).join(', ')}${opts.save ? ' (saved)' : ''}`);
    // the web machines first: their apps would only complain about a Redis that went away
    const order = [...running.filter((m) => m.role !== 'redis'), ...running.filter((m) => m.role === 'redis')];
    await ops.stop(order, { save: opts.save, log: (l) => reporter.info(`  ${l}`) });
    // this command's connections to them died with them
    for (const m of running) await lab.connections.drop(m.name);
    const at = new Date().toISOString();
    for (const m of running) lab.store.setFact(stoppedFact(m.name), { at, ...(opts.save ? { saved: true } : {}) } satisfies StoppedFact);
  }
  return { stopped: running.map((m) => m.name), alreadyStopped: already };
}

export interface StartResult extends RunResult {
  started: string[];
  alreadyRunning: string[];
}

/**
 * The deploy steps that start a machine's services (Redis, the chat app): start runs these and
 * not the others, so nothing is fetched, built or rewritten (a lab deployed from another
 * source than its spec's, with --redis-tarball, is not rebuilt by start).
 */
export function serviceSteps(steps: Step[], also: (s: Step) => boolean = () => false): Step[] {
  const keep = steps.filter((s) => s.id.endsWith(':service') || also(s));
  const ids = new Set(keep.map((s) => s.id));
  return keep.map((s) => (s.deps ? { ...s, deps: s.deps.filter((d) => ids.has(d)) } : s));
}

/**
 * `labctl start`: powers the stopped machines among these on, then runs each machine's create
 * steps (which wait until it answers: sshd on netns, heartbeat and SSH or PowerShell Direct on
 * Hyper-V) and, where deploy had put something on it, the deploy steps of its services: each
 * checks its service and starts it when it is not running.
 */
export async function startMachines(lab: Lab, machines: MachineSpec[], reporter: Reporter): Promise<StartResult> {
  requireCreated(lab);
  const ops = livingOps(lab);
  const states = await liveStates(lab, machines);
  const off = machines.filter((m) => states.get(m.name)?.state !== 'running');
  reporter.phase(`start ${lab.spec.name} (${lab.provider.name}): ${machines.map((m) => m.name).join(', ')}`);
  // a connection this command opened before the machine went down (a restore turns VMs off) is dead
  for (const m of off) await lab.connections.drop(m.name);
  if (off.length > 0) await ops.powerOn(off, (l) => reporter.info(`  ${l}`));
  const names = machines.map((m) => m.name);
  const create = stepsOfMachines(lab.provider.createSteps(lab), names);
  const deployed = names.filter((n) => isDeployed(lab.store, n));
  // a Redis Cluster whose nodes all start here: the chat apps wait until it is ok again (the
  // forming step finds it formed, or only waits: its script resumes, see cluster-create.sh)
  const wholeCluster = redisMachines(lab.spec).every((m) => deployed.includes(m.name));
  const clusterStep = (s: Step) => s.id === CLUSTER_CREATE_STEP && wholeCluster;
  const deploy = deployed.length > 0 ? serviceSteps(stepsOfMachines(deploySteps(lab, lab.provider), deployed), clusterStep) : [];
  // a machine's services start once the machine itself answers
  const createIds = (machine?: string) => create.filter((s) => s.machine === machine).map((s) => s.id);
  const steps: Step[] = [...create, ...deploy.map((s) => ({ ...s, deps: [...(s.deps ?? []), ...createIds(s.machine)] }))];
  let result: RunResult;
  try {
    result = await runSteps(steps, { store: lab.store, onEvent: (e) => reporter.step(e) });
  } finally {
    reporter.summary();
  }
  for (const m of machines) if (lab.store.fact(stoppedFact(m.name)) !== undefined) lab.store.setFact(stoppedFact(m.name), undefined);
  const after = await lab.provider.status(lab);
  const notUp = after.filter((s) => names.includes(s.name) && s.state !== 'running');
  if (notUp.length > 0) {
    throw new OperationError(`${notUp.map((s) => `${s.name} is ${s.state}${s.detail ? ` (${s.detail})` : ''}`).join(', ')} after labctl start`);
  }
  return { ...result, started: off.map((m) => m.name), alreadyRunning: machines.filter((m) => !off.includes(m)).map((m) => m.name) };
}
