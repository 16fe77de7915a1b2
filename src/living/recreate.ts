import { rmSync } from 'node:fs';
import { stepsOfMachines } from '../engine/order.js';
import { runSteps, type RunResult } from '../engine/runner.js';
import type { Step } from '../engine/step.js';
import { deploySteps } from '../roles/index.js';
import type { MachineSpec } from '../spec/types.js';
import { errorMessage, OperationError } from '../util/errors.js';
import type { Lab } from '../cli/context.js';
import type { Reporter } from '../cli/reporter.js';
import { stoppedFact } from './facts.js';
import { isDeployed, requireCreated } from './power.js';

export interface RecreateResult extends RunResult {
  removed: string[];
  deployed: boolean;
}

/**
 * `labctl recreate MACHINE`: the machine's journaled resources are removed (in the provider's
 * teardown order, each checked again before it goes, as teardown does), its steps forgotten,
 * then its create steps and, once the lab has been deployed, its deploy steps run again. Other
 * machines are not touched: their steps are not part of the run.
 */
export async function recreateMachine(lab: Lab, m: MachineSpec, reporter: Reporter): Promise<RecreateResult> {
  requireCreated(lab);
  const deployed = lab.spec.machines.some((x) => isDeployed(lab.store, x.name));
  const plan = lab.provider.teardownPlan(lab);
  const rank = (kind: string) => {
    const i = plan.order.indexOf(kind);
    return i === -1 ? plan.order.length : i;
  };
  const mine = lab.store
    .resources()
    .map((r, i) => ({ r, i }))
    .filter((x) => x.r.machine === m.name)
    .sort((a, b) => rank(a.r.kind) - rank(b.r.kind) || b.i - a.i)
    .map((x) => x.r);
  reporter.phase(`recreate ${m.name} in ${lab.spec.name} (${lab.provider.name}): remove`);
  const removed: string[] = [];
  for (const r of mine) {
    const remover = plan.removers[r.kind];
    if (!remover) throw new OperationError(`labctl does not know how to remove a ${r.kind} (${r.id})`);
    try {
      await remover(r);
    } catch (err) {
      throw new OperationError(`recreate ${m.name}: could not remove ${r.kind} ${r.id}: ${errorMessage(err)}`, ['run labctl recreate again once the cause is fixed']);
    }
    lab.store.removeResource(r.kind, r.id);
    removed.push(`${r.kind} ${r.id}`);
    reporter.info(`  ✓ removed ${r.kind} ${r.id}`);
  }
  await lab.connections.drop(m.name);
  lab.provider.living?.(lab).forgetMachine?.(m);
  // nothing of the old machine is taken as done: its own steps (create and deploy) run again
  const own = [`machine:${m.name}:`, `redis:${m.name}:`, `web:${m.name}:`];
  lab.store.forgetSteps((id) => own.some((p) => id.startsWith(p)));
  if (lab.store.fact(stoppedFact(m.name)) !== undefined) lab.store.setFact(stoppedFact(m.name), undefined);
  if (lab.provider.name === 'netns') rmSync(lab.store.machineDir(m.name), { recursive: true, force: true });

  reporter.phase(`recreate ${m.name}: create${deployed ? ' and deploy' : ''}`);
  const create = stepsOfMachines(lab.provider.createSteps(lab), [m.name]);
  const deploy = deployed ? stepsOfMachines(deploySteps(lab, lab.provider), [m.name]) : [];
  const createIds = create.map((s) => s.id);
  const steps: Step[] = [...create, ...deploy.map((s) => ({ ...s, deps: [...(s.deps ?? []), ...createIds] }))];
  try {
    const r = await runSteps(steps, { store: lab.store, onEvent: (e) => reporter.step(e) });
    return { ...r, removed, deployed };
  } finally {
    reporter.summary();
  }
}
