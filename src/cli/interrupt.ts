import { InterruptedError, resetProcessInterruption, SIGNAL_EXIT_CODES, type Interruption } from '../util/cancel.js';
import { shq } from '../transports/transport.js';

/**
 * Ctrl-C (SIGINT), SIGTERM and SIGHUP during a command that builds or removes a lab.
 *
 * The first signal: nothing new starts, what the command had under way is stopped (commands on
 * the machines by their process group, processes on the host by theirs: src/util/cancel.ts),
 * the engine unwinds, the lab's lock is released and one message says what was stopped and how
 * to resume (the same command line again) or remove the lab. The journal already lists
 * everything that exists: resources are recorded before they are made. All of that within
 * 2 s: whatever has not unwound by then (a step waiting on a connection, verify's chat
 * clients) is cut short by process.exit with the same message.
 *
 * A second signal exits at once.
 */

/** commands whose interruption gets this handling; the others keep Node's (an immediate exit) */
const GUARDED = new Set(['create', 'deploy', 'up', 'teardown']);
/** labctl's global options that take a value (to find the command among the arguments) */
const VALUE_OPTIONS = new Set(['--spec', '--lab', '--provider', '--home']);
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** when the command must have ended after the first signal */
export const FORCED_EXIT_MS = 1500;
/** how long the stops of what was under way may take */
export const STOP_BUDGET_MS = 1000;

export interface InterruptGuard {
  /** the error to report: any error of an interrupted command becomes the interruption's */
  explain(err: unknown): unknown;
  /** the command has returned (or thrown): from now on only the exit is left */
  finish(): void;
}

export interface GuardOptions {
  /** defaults to process.exit; tests pass their own */
  exit?: (code: number) => void;
  write?: (text: string) => void;
  json?: boolean;
}

/** The command of a labctl command line (the first word that is not an option or its value). */
export function commandOfArgs(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** The global options of a command line (--spec FILE ...), to repeat them in the advice. */
function globalArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (VALUE_OPTIONS.has(a) && i + 1 < args.length) out.push(a, args[++i]!);
    else if ([...VALUE_OPTIONS].some((o) => a.startsWith(`${o}=`))) out.push(a);
  }
  return out;
}

const line = (args: string[]) => ['labctl', ...args].map(shq).join(' ');

/** What an interruption of `command` run as `args` tells the user. */
export function interruptedError(signal: NodeJS.Signals, command: string, args: string[], work: string[]): InterruptedError {
  const again = line(args);
  const teardown = line([...globalArgs(args), 'teardown']);
  const stopped = work.length > 0 ? `stopped what was under way (${work.join('; ')})` : 'nothing was under way';
  if (command === 'teardown') {
    return new InterruptedError(signal, work, `teardown interrupted by ${signal}: ${stopped}`, [
      'what is already removed is journaled; the rest is still listed',
      `to finish: ${again}`,
    ]);
  }
  return new InterruptedError(signal, work, `${command} interrupted by ${signal}: ${stopped}`, [
    "everything made so far is in the lab's journal",
    `to resume: ${again}`,
    `to remove it instead: ${teardown}`,
  ]);
}

function render(err: InterruptedError, json: boolean): string {
  if (json) return JSON.stringify({ ok: false, code: err.code, error: err.message, exitCode: err.exitCode, details: err.details }) + '\n';
  return [`labctl: ${err.message}`, ...err.details.map((d) => `  ${d}`)].join('\n') + '\n';
}

/**
 * Installs the handlers for one run of labctl (`argv` as process.argv). For other commands it
 * changes nothing.
 */
export function guardInterrupts(argv: string[], opts: GuardOptions = {}): InterruptGuard {
  const args = argv.slice(2);
  const command = commandOfArgs(args);
  if (!command || !GUARDED.has(command)) return { explain: (err) => err, finish() {} };
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const write = opts.write ?? ((text: string) => void process.stderr.write(text));
  const json = opts.json ?? args.includes('--json');
  const interruption: Interruption = resetProcessInterruption();
  let first: NodeJS.Signals | undefined;
  let finished = false;
  let forced: NodeJS.Timeout | undefined;
  const codeOf = (signal: NodeJS.Signals) => SIGNAL_EXIT_CODES[signal] ?? 130;
  const full = () => interruptedError(first!, command, args, interruption.interruptedWork);

  const onSignal = (signal: NodeJS.Signals) => {
    if (first) {
      write(`labctl: ${signal} again: exiting now; the journal has what exists (${line([...globalArgs(args), 'teardown'])} removes it)\n`);
      exit(codeOf(first));
      return;
    }
    first = signal;
    write(`\nlabctl: ${signal}: stopping ${command} (press Ctrl-C again to exit at once)\n`);
    forced = setTimeout(() => {
      if (!finished) {
        // the command did not unwind in time (it waits on something that cannot be stopped)
        const err = full();
        if (json) process.stdout.write(render(err, true));
        else write(render(err, false));
        exit(err.exitCode);
      } else exit(typeof process.exitCode === 'number' ? process.exitCode : codeOf(signal));
    }, FORCED_EXIT_MS);
    // while the command runs this holds the process: the message must come (see finish)
    if (finished) forced.unref();
    void interruption.interrupt(signal, STOP_BUDGET_MS);
  };
  for (const s of SIGNALS) process.on(s, onSignal);

  return {
    explain(err) {
      if (!first) return err;
      // the work a runner found under way, or (when it came elsewhere) nothing named
      const work = err instanceof InterruptedError && err.work.length > 0 ? err.work : interruption.interruptedWork;
      return interruptedError(first, command, args, [...new Set(work)]);
    },
    finish() {
      finished = true;
      if (!first) {
        for (const s of SIGNALS) process.off(s, onSignal);
        return;
      }
      // interrupted: the handlers stay (a second Ctrl-C still exits at once) and so does the
      // timer, which ends a process that something not stopped keeps alive; a process with
      // nothing left exits on its own before it fires
      forced?.unref();
    },
  };
}
