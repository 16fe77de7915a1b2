import type { Step } from './step.js';

/** Steps sorted so that every step comes after its dependencies (stable otherwise). */
export function topoSort(steps: Step[]): Step[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  if (byId.size !== steps.length) {
    const seen = new Set<string>();
    const dup = steps.find((s) => (seen.has(s.id) ? true : (seen.add(s.id), false)));
    throw new Error(`duplicate step id ${dup?.id}`);
  }
  for (const s of steps) {
    for (const d of s.deps ?? []) if (!byId.has(d)) throw new Error(`step ${s.id} depends on unknown step ${d}`);
  }
  const out: Step[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: Step, trail: string[]) => {
    const mark = state.get(s.id);
    if (mark === 'done') return;
    if (mark === 'visiting') throw new Error(`dependency cycle: ${[...trail, s.id].join(' -> ')}`);
    state.set(s.id, 'visiting');
    for (const d of s.deps ?? []) visit(byId.get(d)!, [...trail, s.id]);
    state.set(s.id, 'done');
    out.push(s);
  };
  for (const s of steps) visit(s, []);
  return out;
}

/**
 * The steps of some machines only (`labctl deploy web1`): the others are taken as they are,
 * so a dependency on a step of a machine left out is dropped rather than run.
 */
export function stepsOfMachines(steps: Step[], machines: string[]): Step[] {
  const keep = steps.filter((s) => s.machine !== undefined && machines.includes(s.machine));
  const ids = new Set(keep.map((s) => s.id));
  return keep.map((s) => (s.deps ? { ...s, deps: s.deps.filter((d) => ids.has(d)) } : s));
}
