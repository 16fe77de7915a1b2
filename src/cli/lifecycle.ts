import type { Step } from '../engine/step.js';
import type { Lab } from './context.js';

/** Every step of a lab, create and deploy, in one list (for plan). */
export function labSteps(lab: Lab): Step[] {
  return [...lab.provider.createSteps(lab)];
}
