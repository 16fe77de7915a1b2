import type { Step } from '../engine/step.js';
import { deploySteps } from '../roles/index.js';
import type { Lab } from './context.js';

/**
 * Create and deploy steps in one list, for plan: each deploy step is made to wait for
 * the create steps of its machine (or all of them), so plan shows it as "after ..."
 * instead of probing a machine that does not exist yet.
 */
export function labSteps(lab: Lab): Step[] {
  const create = lab.provider.createSteps(lab);
  const deploy = deploySteps(lab, lab.provider);
  const createIds = (machine?: string) => create.filter((s) => !machine || s.machine === machine || !s.machine).map((s) => s.id);
  return [...create, ...deploy.map((s) => ({ ...s, deps: [...(s.deps ?? []), ...createIds(s.machine)] }))];
}
