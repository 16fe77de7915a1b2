import { REDIS_PASSWORD_SECRET, redisPassword } from '../roles/redis/index.js';
import { redisMachines, type MachineSpec } from '../spec/types.js';
import { errorMessage, OperationError, UsageError } from '../util/errors.js';
import { withRedis } from '../verify/redis-probe.js';
import type { Lab } from '../cli/context.js';
import type { Reporter } from '../cli/reporter.js';
import { checkpointFact, type CheckpointFact } from './facts.js';
import { isDeployed, liveStates, livingOps, requireCreated, startMachines, stopMachines } from './power.js';

export const CHECKPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkName(name: string | undefined): string {
  if (!name) throw new UsageError('a checkpoint needs a name, e.g. labctl checkpoint save clean');
  if (!CHECKPOINT_NAME.test(name)) throw new UsageError(`checkpoint name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-" (at most 64, starting with a letter or digit)`);
  return name;
}

export interface CheckpointListing {
  name: string;
  created: string;
  machines: string[];
  /** every machine of the lab has it */
  complete: boolean;
  type?: string;
}

/** Every checkpoint of the lab's machines, by name. */
export async function listCheckpoints(lab: Lab): Promise<CheckpointListing[]> {
  requireCreated(lab);
  const found = await livingOps(lab).checkpointList(lab.spec.machines);
  const byName = new Map<string, CheckpointListing>();
  for (const c of found) {
    const entry = byName.get(c.name) ?? { name: c.name, created: c.created, machines: [], complete: false, type: c.type };
    entry.machines.push(c.machine);
    if (c.created < entry.created) entry.created = c.created;
    byName.set(c.name, entry);
  }
  for (const e of byName.values()) e.complete = lab.spec.machines.every((m) => e.machines.includes(m.name));
  return [...byName.values()].sort((a, b) => a.created.localeCompare(b.created));
}

/**
 * Redis keeps the backplane's data in memory only (the lab's redis.conf has `save ""`): SAVE
 * writes it to dump.rdb now, so the checkpoint holds it and a restored Redis loads it. A
 * cluster: on every node, each holding its own slots' keys.
 */
async function saveRedisData(lab: Lab, reporter: Reporter): Promise<void> {
  for (const redis of redisMachines(lab.spec)) await saveNodeData(lab, redis, reporter);
}

async function saveNodeData(lab: Lab, redis: MachineSpec, reporter: Reporter): Promise<void> {
  if (!lab.store.secrets.has(REDIS_PASSWORD_SECRET) || !isDeployed(lab.store, redis.name)) return;
  try {
    await lab.provider.access(lab, redis).guardRoute?.();
    await withRedis({ host: redis.ip, port: lab.spec.redis.port, password: redisPassword(lab) }, (c) => c.save(), 30_000);
    reporter.info(`  Redis on ${redis.name}: SAVE wrote its data to disk`);
  } catch (err) {
    reporter.warn(`Redis on ${redis.name} did not SAVE (${errorMessage(err)}): the checkpoint holds what it last wrote to disk`);
  }
}

/**
 * `labctl checkpoint save NAME`: every machine of the lab, taken while the lab is consistent:
 * all machines in one state (all running or all stopped), Redis's data saved to disk first,
 * and on netns with every machine's processes stopped during the copy (started again after).
 */
export async function saveCheckpoint(lab: Lab, name: string, reporter: Reporter): Promise<CheckpointListing> {
  requireCreated(lab);
  const ops = livingOps(lab);
  const machines = lab.spec.machines;
  const states = await liveStates(lab, machines);
  const running = machines.filter((m) => states.get(m.name)?.state === 'running');
  const stopped = machines.filter((m) => states.get(m.name)?.state !== 'running');
  if (running.length > 0 && stopped.length > 0) {
    throw new UsageError(
      `${stopped.map((m) => m.name).join(', ')} ${stopped.length === 1 ? 'is' : 'are'} stopped while ${running.map((m) => m.name).join(', ')} run: a checkpoint of the lab is taken with every machine in one state (labctl start, or labctl stop, first)`,
    );
  }
  const existing = (await ops.checkpointList(machines)).filter((c) => c.name === name);
  if (existing.length > 0) {
    throw new UsageError(`checkpoint ${name} exists (on ${[...new Set(existing.map((c) => c.machine))].join(', ')}): labctl checkpoint remove ${name} first, or pick another name`);
  }
  reporter.phase(`checkpoint save ${name}: ${lab.spec.name} (${lab.provider.name}), ${machines.map((m) => m.name).join(', ')}`);
  if (running.length > 0) await saveRedisData(lab, reporter);
  const log = (l: string) => reporter.info(`  ${l}`);
  if (ops.checkpointsWhileStopped && running.length > 0) {
    await stopMachines(lab, running, { save: false }, reporter);
    try {
      await ops.checkpointSave(name, machines, log);
    } finally {
      await startMachines(lab, running, reporter);
    }
  } else {
    await ops.checkpointSave(name, machines, log);
  }
  const created = new Date().toISOString();
  lab.store.setFact(checkpointFact(name), { created, machines: machines.map((m) => m.name), spec: lab.spec.hash } satisfies CheckpointFact);
  return { name, created, machines: machines.map((m) => m.name), complete: true };
}

/**
 * `labctl checkpoint restore NAME`: every machine back to the checkpoint, then started (and
 * its services with it); the command verifies afterwards. A checkpoint that lacks a machine
 * of the lab (taken before it was added, or half removed) is refused: the lab would not be
 * consistent.
 */
export async function restoreCheckpoint(lab: Lab, name: string, reporter: Reporter): Promise<{ restored: string[] }> {
  requireCreated(lab);
  const ops = livingOps(lab);
  const machines = lab.spec.machines;
  const listing = (await listCheckpoints(lab)).find((c) => c.name === name);
  if (!listing) throw new UsageError(`no checkpoint ${name} in lab ${lab.spec.name} (labctl checkpoint list)`);
  if (!listing.complete) {
    const lacking = machines.filter((m) => !listing.machines.includes(m.name)).map((m) => m.name);
    throw new OperationError(`checkpoint ${name} has no copy of ${lacking.join(', ')}: restoring only ${listing.machines.join(', ')} would leave the lab inconsistent`);
  }
  const states = await liveStates(lab, machines);
  reporter.phase(`checkpoint restore ${name}: ${lab.spec.name} (${lab.provider.name}), ${machines.map((m) => m.name).join(', ')}`);
  if (ops.checkpointsWhileStopped) {
    const running = machines.filter((m) => states.get(m.name)?.state === 'running');
    if (running.length > 0) await stopMachines(lab, running, { save: false }, reporter);
  }
  await ops.checkpointRestore(name, machines, (l) => reporter.info(`  ${l}`));
  await startMachines(lab, machines, reporter);
  return { restored: machines.map((m) => m.name) };
}

export async function removeCheckpoint(lab: Lab, name: string, reporter: Reporter): Promise<void> {
  requireCreated(lab);
  const ops = livingOps(lab);
  const listing = (await listCheckpoints(lab)).find((c) => c.name === name);
  if (!listing) throw new UsageError(`no checkpoint ${name} in lab ${lab.spec.name} (labctl checkpoint list)`);
  reporter.phase(`checkpoint remove ${name}: ${lab.spec.name} (${lab.provider.name})`);
  await ops.checkpointRemove(
    name,
    lab.spec.machines.filter((m) => listing.machines.includes(m.name)),
    (l) => reporter.info(`  ${l}`),
  );
  if (lab.store.fact(checkpointFact(name)) !== undefined) lab.store.setFact(checkpointFact(name), undefined);
}
