import ora, { type Ora } from 'ora';
import type { RunEvent } from '../engine/runner.js';
import type { TeardownEvent } from '../engine/teardown.js';
import { errorMessage, LabctlError } from '../util/errors.js';

export interface ReporterOptions {
  json?: boolean;
  verbose?: boolean;
  /** spinner and colours; default: stderr is a terminal that can show them (see fancyTerminal) */
  tty?: boolean;
  /** where progress goes (default stderr) */
  stream?: NodeJS.WriteStream;
}

/**
 * Whether a stream may get a spinner and escape codes (clig.dev): a terminal with columns to
 * draw in, not TERM=dumb, and neither NO_COLOR nor CI set. A terminal reporting 0 columns
 * gets plain lines: a spinner there redraws forever.
 */
export function fancyTerminal(stream: Pick<NodeJS.WriteStream, 'isTTY' | 'columns'>, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!stream.isTTY) return false;
  if (!(Number(stream.columns) > 0)) return false;
  if ((env.TERM ?? '') === 'dumb') return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0') return false;
  return true;
}

/**
 * Shows progress of long work: a spinner on a terminal, plain timestamped lines
 * otherwise, nothing at all with --json (stdout then carries only the JSON result).
 * Progress goes to stderr so stdout stays clean for results.
 */
export class Reporter {
  private spinner: Ora | undefined;
  private readonly running = new Map<string, string>();
  private readonly started = Date.now();
  private skipped = 0;
  readonly quiet: boolean;
  readonly tty: boolean;
  private readonly out: NodeJS.WriteStream;

  constructor(private readonly opts: ReporterOptions = {}) {
    this.quiet = Boolean(opts.json);
    this.out = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? fancyTerminal(this.out);
  }

  /** A heading for a phase of work ("create", "deploy"). */
  phase(title: string): void {
    this.line(`${title}`);
    this.skipped = 0;
  }

  info(text: string): void {
    this.line(text);
  }

  warn(text: string): void {
    this.line(`! ${text}`);
  }

  step(event: RunEvent): void {
    if (this.quiet) return;
    const { step } = event;
    switch (event.type) {
      case 'start':
        this.running.set(step.id, step.title);
        if (!this.tty) this.line(`  … ${step.title}`);
        break;
      case 'progress':
        this.running.set(step.id, `${step.title}: ${event.text}`);
        if (!this.tty && this.opts.verbose) this.line(`    ${step.title}: ${event.text}`);
        break;
      case 'log':
        if (this.opts.verbose) this.line(`    ${event.line}`);
        break;
      case 'skip':
        this.skipped++;
        if (this.opts.verbose) this.line(`  · ${step.title} (${event.reason})`);
        break;
      case 'n/a':
        this.line(`  - ${step.title}: not applicable (${event.reason})`);
        break;
      case 'done':
        this.running.delete(step.id);
        this.line(`  ✓ ${step.title} ${this.dim(formatMs(event.ms))}`);
        break;
      case 'fail':
        this.running.delete(step.id);
        this.line(`  ✗ ${step.title}`);
        // an error with details (a build log tail, say) says it better than the step's raw log
        if (!(event.error instanceof LabctlError && event.error.details.length > 0)) {
          for (const l of event.log.slice(-15)) this.line(`      ${l}`);
        }
        break;
    }
    this.refresh();
  }

  /** Call when a run ends: says how many steps were already done. */
  summary(): void {
    if (this.quiet) return;
    if (this.skipped > 0 && !this.opts.verbose) this.line(`  · ${this.skipped} step${this.skipped === 1 ? '' : 's'} already done`);
    this.skipped = 0;
    this.stop();
  }

  teardown(event: TeardownEvent): void {
    if (this.quiet) return;
    const what = `${event.resource.kind} ${event.resource.id}`;
    if (event.type === 'removing') this.running.set(what, `removing ${what}`);
    else {
      this.running.delete(`${event.resource.kind} ${event.resource.id}`);
      if (event.type === 'removed') this.line(`  ✓ removed ${what}`);
      else this.line(`  ✗ could not remove ${what}: ${errorMessage(event.error)}`);
    }
    this.refresh();
  }

  elapsed(): string {
    return formatMs(Date.now() - this.started);
  }

  stop(): void {
    this.spinner?.stop();
    this.spinner = undefined;
  }

  private refresh(): void {
    if (!this.tty || this.quiet) return;
    if (this.running.size === 0) {
      this.stop();
      return;
    }
    const text = [...this.running.values()].join(' · ');
    if (!this.spinner) this.spinner = ora({ text, stream: this.out }).start();
    else this.spinner.text = text;
  }

  private line(text: string): void {
    if (this.quiet) return;
    if (this.spinner) this.spinner.clear();
    this.out.write(`${text}\n`);
    if (this.spinner) this.spinner.render();
  }

  private dim(text: string): string {
    return this.tty ? `\x1b[2m${text}\x1b[22m` : `(${text})`;
  }
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A table of rows with aligned columns, for people. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}
