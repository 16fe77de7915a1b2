import { LabctlError } from './errors.js';

/**
 * Interruption of the running command (Ctrl-C, SIGTERM): whatever labctl starts that may run
 * on — a command on a machine over SSH, a process on the host — registers how to stop it with
 * `onInterrupt` for as long as it runs. The CLI's signal handler (src/cli/interrupt.ts) calls
 * `interrupt()`: from that moment nothing new starts (`throwIfInterrupted`), every registered
 * stop runs at once (bounded in time), and then `stopped` resolves, which is when the engine
 * unwinds: while the stops run, the command's SSH connections must stay open (a remote
 * process group is killed through one of them).
 */
export type Stopper = () => Promise<void> | void;

export class Interruption {
  private readonly stoppers = new Set<Stopper>();
  private signalName: NodeJS.Signals | undefined;
  private resolveStopped!: () => void;
  /** resolves once every stop registered at the interruption has run (or ran out of time) */
  readonly stopped: Promise<void> = new Promise((resolve) => (this.resolveStopped = resolve));
  /** what was under way when it came (step titles), for the message */
  readonly interruptedWork: string[] = [];

  /** the signal that interrupted the command, or undefined while it runs normally */
  get requested(): NodeJS.Signals | undefined {
    return this.signalName;
  }

  /** Registers how to stop something that is running; call the returned function when it ends. */
  onInterrupt(stop: Stopper): () => void {
    if (this.signalName) {
      // started after the interruption (it raced it): stop it at once
      void Promise.resolve()
        .then(stop)
        .catch(() => {});
      return () => {};
    }
    this.stoppers.add(stop);
    return () => {
      this.stoppers.delete(stop);
    };
  }

  throwIfInterrupted(): void {
    if (this.signalName) throw new InterruptedError(this.signalName);
  }

  /**
   * Starts the interruption: nothing new may start, every registered stop runs (each given at
   * most `budgetMs`), then `stopped` resolves. A second call does nothing.
   */
  async interrupt(signal: NodeJS.Signals, budgetMs = 1000): Promise<void> {
    if (this.signalName) return this.stopped;
    this.signalName = signal;
    const all = [...this.stoppers];
    this.stoppers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(all.map(async (stop) => stop())),
      new Promise<void>((resolve) => {
        // kept referenced: `stopped` must come even when a stop hangs on nothing that would
        timer = setTimeout(resolve, budgetMs);
      }),
    ]);
    clearTimeout(timer);
    this.resolveStopped();
    return this.stopped;
  }
}

/** The interruption of this process's command (one command per labctl process). */
export let processInterruption = new Interruption();

/** A fresh process-wide interruption (for tests that run several commands in one process). */
export function resetProcessInterruption(): Interruption {
  processInterruption = new Interruption();
  return processInterruption;
}

export function onInterrupt(stop: Stopper): () => void {
  return processInterruption.onInterrupt(stop);
}

export function throwIfInterrupted(): void {
  processInterruption.throwIfInterrupted();
}

export function interruptRequested(): NodeJS.Signals | undefined {
  return processInterruption.requested;
}

/** Exit codes of a process ended by a signal, by shell convention (128 + its number). */
export const SIGNAL_EXIT_CODES: Partial<Record<NodeJS.Signals, 129 | 130 | 143>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * The command stopped because it was interrupted. The message and what to do next are filled
 * in by the CLI (src/cli/interrupt.ts), which knows the command line to resume with.
 */
export class InterruptedError extends LabctlError {
  constructor(
    readonly signal: NodeJS.Signals,
    readonly work: string[] = [],
    message = `interrupted (${signal})`,
    details: string[] = [],
  ) {
    super(message, SIGNAL_EXIT_CODES[signal] ?? 130, details, 'INTERRUPTED');
  }
}
