/**
 * Child processes that talk in lines, for tests that need a second (or a killed) process:
 * `startScript('lock-worker.ts', [...])` runs test/helpers/scripts/<name> with tsx.
 * Every wait is bounded; `stop()` always ends the child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './cli.js';

export const SCRIPTS_DIR = path.join(REPO_ROOT, 'test/helpers/scripts');

export class LineChild {
  readonly lines: string[] = [];
  private consumed = 0;
  private waiters: (() => void)[] = [];
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      this.wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.wake();
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves at the next output or end of the child, or at the deadline; throws past the deadline. */
  private async change(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`child ${this.pid}: timed out waiting for ${what}; stderr:\n${this.stderr}`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The next line not yet read; fails after timeoutMs or when the child ends first. */
  async nextLine(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.consumed >= this.lines.length) {
      if (!this.running) throw new Error(`child ${this.pid} ended before answering; stderr:\n${this.stderr}`);
      await this.change(deadline, 'a line');
    }
    return this.lines[this.consumed++]!;
  }

  /** Waits until the child has printed at least `count` lines in all (read or not). */
  async waitForLines(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      if (!this.running) throw new Error(`child ${this.pid} ended after ${this.lines.length} lines; stderr:\n${this.stderr}`);
      await this.change(deadline, `${count} lines`);
    }
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** SIGKILL and wait for the end. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill();
  }

  get errorOutput(): string {
    return this.stderr;
  }
}

/** Starts test/helpers/scripts/<script> under tsx with stdin, stdout and stderr piped. */
export function startScript(script: string, args: string[], env: Record<string, string> = {}): LineChild {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(SCRIPTS_DIR, script), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new LineChild(child);
}
