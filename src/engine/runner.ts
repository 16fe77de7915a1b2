import type { LabStore } from '../state/store.js';
import { InterruptedError, processInterruption, type Interruption } from '../util/cancel.js';
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
  /** Ctrl-C / SIGTERM of the command (default: the process's, see src/util/cancel.ts) */
  interruption?: Interruption;
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
 *
 * When the command is interrupted (Ctrl-C, SIGTERM) no new step starts and nothing more is
 * reported or journaled as done; once what the running steps had started has been stopped
 * (their remote commands killed, see src/util/cancel.ts), an InterruptedError naming them is
 * thrown at once, without waiting for the steps themselves to return. What they created is
 * already in the journal (recorded before it was made), so a re-run resumes and teardown
 * finds it.
 */
export async function runSteps(steps: Step[], opts: RunOptions): Promise<RunResult> {
  const ordered = topoSort(steps);
  const interruption = opts.interruption ?? processInterruption;
  const interrupted = () => interruption.requested !== undefined;
  const report = opts.onEvent ?? (() => {});
  // after an interruption the steps still unwinding report nothing: their errors are the kills
  const emit = (event: RunEvent) => {
    if (!interrupted()) report(event);
  };
  const limit = Math.max(1, opts.concurrency ?? 6);
  const result: RunResult = { applied: [], skipped: [], notApplicable: [] };
  const finished = new Set<string>();
  const pending = [...ordered];
  const running = new Map<string, Promise<void>>();
  const titles = new Map<string, string>();
  const held = new Set<string>();
  let failure: StepFailedError | undefined;
  const interruptedError = () => {
    const error = new InterruptedError(interruption.requested!, [...titles.values()]);
    interruption.interruptedWork.push(...error.work);
    return error;
  };
  if (interrupted()) throw interruptedError();

  const runOne = async (step: Step): Promise<void> => {
    const log: string[] = [];
    const ctx = contextFor(step, { ...opts, onEvent: emit }, log);
    if (step.notApplicable) {
      emit({ type: 'n/a', step, reason: step.notApplicable });
      result.notApplicable.push(step.id);
      return;
    }
    const started = Date.now();
    try {
      const done = step.check ? await step.check(ctx) : opts.store.isStepDone(step.id);
      if (interrupted()) return;
      if (done) {
        if (!opts.store.isStepDone(step.id)) opts.store.markStepDone(step.id);
        emit({ type: 'skip', step, reason: step.check ? 'already done' : 'done in an earlier run' });
        result.skipped.push(step.id);
        return;
      }
      emit({ type: 'start', step });
      const info = await step.apply(ctx);
      // an apply that returns after an interruption may have had its commands killed under it
      if (interrupted()) return;
      opts.store.markStepDone(step.id, info ?? undefined);
      emit({ type: 'done', step, ms: Date.now() - started });
      result.applied.push(step.id);
    } catch (error) {
      if (interrupted()) return;
      emit({ type: 'fail', step, ms: Date.now() - started, error, log });
      failure ??= new StepFailedError(step, error, log);
    }
  };

  while (pending.length > 0 || running.size > 0) {
    if (!failure && !interrupted()) {
      for (let i = 0; i < pending.length && running.size < limit; ) {
        const step = pending[i]!;
        const free = !step.exclusive || !held.has(step.exclusive);
        if (free && (step.deps ?? []).every((d) => finished.has(d))) {
          pending.splice(i, 1);
          if (step.exclusive) held.add(step.exclusive);
          titles.set(step.id, step.title);
          const p = runOne(step).finally(() => {
            if (step.exclusive) held.delete(step.exclusive);
            running.delete(step.id);
            // a step that ends after an interruption was under way when it came: keep its title
            if (!interrupted()) titles.delete(step.id);
            finished.add(step.id);
          });
          running.set(step.id, p);
        } else i++;
      }
    }
    if (running.size === 0) break;
    // an interruption ends the wait as soon as what the running steps started is stopped
    const stopped = interruption.stopped.then(() => 'stopped' as const);
    if ((await Promise.race([...running.values(), stopped])) === 'stopped') throw interruptedError();
    if (failure) {
      // let the steps already under way finish cleanly, then stop
      await Promise.race([Promise.allSettled(running.values()), stopped]);
      break;
    }
  }
  if (interrupted()) {
    await interruption.stopped;
    throw interruptedError();
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
