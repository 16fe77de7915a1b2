import type { LabStore } from '../state/store.js';
import { OperationError, errorMessage, LabctlError } from '../util/errors.js';
import { topoSort } from './order.js';
import type { PlannedStep, Step, StepContext } from './step.js';

export type RunEvent =
  | { type: 'start'; step: Step }
  | { type: 'skip'; step: Step; reason: string }
  | { type: 'n/a'; step: Step; reason: string }
  | { type: 'done'; step: Step; ms: number }
  | { type: 'fail'; step: Step; ms: number; error: unknown; log: string[] }
  | { type: 'progress'; step: Step; text: string }
  | { type: 'log'; step: Step; line: string };

export interface RunOptions {
  store: LabStore;
  /** steps of different machines run at the same time up to this many */
  concurrency?: number;
  onEvent?: (event: RunEvent) => void;
}

export interface RunResult {
  applied: string[];
  skipped: string[];
  notApplicable: string[];
}

export class StepFailedError extends OperationError {
  constructor(
    readonly step: Step,
    override readonly cause: unknown,
    readonly log: string[],
  ) {
    const details = cause instanceof LabctlError ? cause.details : [];
    super(`step "${step.title}" failed: ${errorMessage(cause)}`, details, 'STEP_FAILED');
  }
}

function contextFor(step: Step, opts: RunOptions, log: string[]): StepContext {
  const emit = opts.onEvent ?? (() => {});
  return {
    store: opts.store,
    log(line) {
      log.push(line);
      if (log.length > 200) log.shift();
      emit({ type: 'log', step, line });
    },
    progress(text) {
      emit({ type: 'progress', step, text });
    },
    record(resource) {
      opts.store.addResource(resource);
    },
  };
}

/**
 * Runs steps in dependency order, independent ones in parallel. Each finished step is
 * journaled before anything that depends on it starts. On the first failure no new
 * step starts; the ones already running finish, then the failure is thrown.
 */
export async function runSteps(steps: Step[], opts: RunOptions): Promise<RunResult> {
  const ordered = topoSort(steps);
  const emit = opts.onEvent ?? (() => {});
  const limit = Math.max(1, opts.concurrency ?? 6);
  const result: RunResult = { applied: [], skipped: [], notApplicable: [] };
  const finished = new Set<string>();
  const pending = [...ordered];
  const running = new Map<string, Promise<void>>();
  const held = new Set<string>();
  let failure: StepFailedError | undefined;

  const runOne = async (step: Step): Promise<void> => {
    const log: string[] = [];
    const ctx = contextFor(step, opts, log);
    if (step.notApplicable) {
      emit({ type: 'n/a', step, reason: step.notApplicable });
      result.notApplicable.push(step.id);
      return;
    }
    const started = Date.now();
    try {
      const done = step.check ? await step.check(ctx) : opts.store.isStepDone(step.id);
      if (done) {
        if (!opts.store.isStepDone(step.id)) opts.store.markStepDone(step.id);
        emit({ type: 'skip', step, reason: step.check ? 'already done' : 'done in an earlier run' });
        result.skipped.push(step.id);
        return;
      }
      emit({ type: 'start', step });
      const info = await step.apply(ctx);
      opts.store.markStepDone(step.id, info ?? undefined);
      emit({ type: 'done', step, ms: Date.now() - started });
      result.applied.push(step.id);
    } catch (error) {
      emit({ type: 'fail', step, ms: Date.now() - started, error, log });
      failure ??= new StepFailedError(step, error, log);
    }
  };

  while (pending.length > 0 || running.size > 0) {
    if (!failure) {
      for (let i = 0; i < pending.length && running.size < limit; ) {
        const step = pending[i]!;
        const free = !step.exclusive || !held.has(step.exclusive);
        if (free && (step.deps ?? []).every((d) => finished.has(d))) {
          pending.splice(i, 1);
          if (step.exclusive) held.add(step.exclusive);
          const p = runOne(step).finally(() => {
            if (step.exclusive) held.delete(step.exclusive);
            running.delete(step.id);
            finished.add(step.id);
          });
          running.set(step.id, p);
        } else i++;
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
    if (failure) {
      // let the steps already under way finish cleanly, then stop
      await Promise.allSettled(running.values());
      break;
    }
  }
  if (failure) throw failure;
  return result;
}

/** What `runSteps` would do, without applying anything. */
export async function planSteps(steps: Step[], store: LabStore): Promise<PlannedStep[]> {
  const ordered = topoSort(steps);
  const todo = new Set<string>();
  const out: PlannedStep[] = [];
  for (const step of ordered) {
    const base = { id: step.id, title: step.title, machine: step.machine, action: step.describe?.() };
    if (step.notApplicable) {
      out.push({ ...base, status: 'n/a', reason: step.notApplicable });
      continue;
    }
    const blockedBy = (step.deps ?? []).find((d) => todo.has(d));
    let done = false;
    let reason: string;
    if (blockedBy) {
      // its inputs are not there yet: checking would only report their absence
      reason = `to do (after ${blockedBy})`;
    } else if (step.check) {
      try {
        done = await step.check(contextFor(step, { store }, []));
        reason = done ? 'already done' : 'to do';
      } catch (err) {
        reason = `to do (could not check: ${errorMessage(err)})`;
      }
    } else {
      done = store.isStepDone(step.id);
      reason = done ? 'done in an earlier run' : 'to do';
    }
    if (!done) todo.add(step.id);
    out.push({ ...base, status: done ? 'done' : 'todo', reason });
  }
  return out;
}
