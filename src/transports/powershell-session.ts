import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EOL } from 'node:os';
import { onInterrupt, throwIfInterrupted } from '../util/cancel.js';
import { OperationError, PreflightError } from '../util/errors.js';
import type { LineChannel } from './powershell.js';

/** How much of a session's output a failure message quotes. */
const TAIL = 2000;

/**
 * One long-lived PowerShell process reading commands from stdin (`-Command -`), started on
 * first use; one call at a time. A call is the invocation line followed by lines that write
 * a marker with a fresh random id to stdout and to stderr: the call is over when both markers
 * have come, wherever they fall in what the process printed.
 *
 * node-powershell did this with delimiters too, but looked for the second one only at the
 * very end of a read: PowerShell 7 writes ESC[?1h ESC[?1l to stdout each time it reads a line,
 * so a quick call arrived in one read with those bytes after its delimiter and was never seen
 * to end (the simulated host's rare "did not answer within 90 s").
 *
 * Between calls the process and its pipes are unref'd, so a finished labctl exits without
 * anyone disposing the session.
 */
export class PowerShellSession implements LineChannel {
  private child: ChildProcess | undefined;
  private stdout = '';
  private stderr = '';
  private exited: Error | undefined;
  private onOutput: () => void = () => {};
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param executable powershell (Windows PowerShell 5.1, the default on a Hyper-V host), pwsh,
   * or a path (LABCTL_POWERSHELL: the tests' simulated host is one)
   * @param env extra environment for the PowerShell process
   */
  constructor(
    private readonly executable = 'powershell',
    private readonly env?: Record<string, string>,
  ) {}

  send(line: string, timeoutMs?: number): Promise<{ stdout: string; stderr: string }> {
    const call = this.queue.then(() => this.call(line, timeoutMs));
    this.queue = call.catch(() => {});
    return call;
  }

  private start(): ChildProcess {
    if (this.child && !this.exited) return this.child;
    this.stdout = '';
    this.stderr = '';
    this.exited = undefined;
    const child = spawn(
      this.executable,
      ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-NoExit', '-Command', '-'],
      { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true, ...(this.env ? { env: { ...process.env, ...this.env } } : {}) },
    );
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      this.stdout += text;
      this.onOutput();
    });
    child.stderr!.on('data', (text: string) => {
      this.stderr += text;
      this.onOutput();
    });
    // a write to a session that has just died: the exit below reports it
    child.stdin!.on('error', () => {});
    child.once('error', (err: NodeJS.ErrnoException) => {
      this.exited =
        err.code === 'ENOENT'
          ? new PreflightError(`cannot start ${this.executable}: not found (the hyperv provider needs Windows PowerShell 5.1, or LABCTL_POWERSHELL naming another PowerShell)`)
          : new OperationError(`cannot start ${this.executable}: ${err.message}`);
      this.onOutput();
    });
    child.once('exit', (code, signal) => {
      this.exited ??= new OperationError(`PowerShell (${this.executable}) ended during a call (${signal ?? `exit code ${code}`})`, tailLines(this.stderr || this.stdout));
      this.onOutput();
    });
    this.child = child;
    return child;
  }

  private setRef(child: ChildProcess, on: boolean): void {
    for (const h of [child, child.stdin, child.stdout, child.stderr] as unknown as { ref?(): void; unref?(): void }[]) {
      (on ? h?.ref : h?.unref)?.call(h);
    }
  }

  private async call(line: string, timeoutMs?: number): Promise<{ stdout: string; stderr: string }> {
    throwIfInterrupted();
    const child = this.start();
    this.setRef(child, true);
    const marker = `<<labctl-done:${randomBytes(8).toString('hex')}>>`;
    // what came after the previous call's marker (escape codes, a late warning) is not this call's
    this.stdout = '';
    this.stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let unregister = () => {};
    try {
      return await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        this.onOutput = () => {
          if (this.exited) return reject(this.exited);
          const o = this.stdout.indexOf(marker);
          const e = this.stderr.indexOf(marker);
          if (o !== -1 && e !== -1) resolve({ stdout: this.stdout.slice(0, o), stderr: this.stderr.slice(0, e) });
        };
        // Ctrl-C: the script stops with its PowerShell (a session busy in a script would read
        // an "exit" only after it), and the call fails at once; the next call starts a new one
        unregister = onInterrupt(() => {
          this.kill();
          reject(new OperationError('PowerShell stopped: labctl was interrupted'));
        });
        if (timeoutMs) {
          timer = setTimeout(() => reject(new OperationError(`PowerShell did not answer within ${Math.round(timeoutMs / 1000)} s`, tailLines(this.stderr || this.stdout))), timeoutMs);
        }
        child.stdin!.write(`${line}${EOL}[Console]::Out.WriteLine("${marker}")${EOL}[Console]::Error.WriteLine("${marker}")${EOL}`);
        this.onOutput();
      });
    } finally {
      unregister();
      if (timer) clearTimeout(timer);
      this.onOutput = () => {};
      if (this.child && !this.exited) this.setRef(this.child, false);
    }
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill();
  }

  async reset(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    // waiting for the process to exit needs its handles counted again
    this.setRef(child, true);
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    child.kill();
    const late = setTimeout(() => child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(late);
  }
}

function tailLines(text: string): string[] {
  return text
    .slice(-TAIL)
    .split(/\r?\n/)
    .map((l) => l.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trimEnd())
    .filter(Boolean)
    .slice(-10);
}
