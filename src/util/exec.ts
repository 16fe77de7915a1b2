import type { ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { throwIfInterrupted } from './cancel.js';
import { OperationError } from './errors.js';

export interface HostRunOptions {
  input?: string | Buffer;
  /** return the result instead of throwing on a non-zero exit */
  allowFail?: boolean;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface HostRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program on the host (never through a shell: arguments are passed as they are). Once
 * labctl is interrupted nothing new starts; one that runs is left to finish (these are short
 * commands like `ip netns add`, which a kill half-way could leave half-done).
 */
export async function runHost(file: string, args: string[], opts: HostRunOptions = {}): Promise<HostRunResult> {
  throwIfInterrupted();
  const r = await execa(file, args, {
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs,
    env: opts.env,
    stripFinalNewline: true,
  });
  const code = typeof r.exitCode === 'number' ? r.exitCode : r.failed ? 1 : 0;
  const result = { code, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  if (code !== 0 && !opts.allowFail) {
    const why = result.stderr.trim().split('\n').slice(-3).join(' / ') || (r.timedOut ? 'timed out' : `exit code ${code}`);
    throw new OperationError(`${file} ${args.join(' ')}: ${why}`);
  }
  return result;
}

/**
 * SIGTERM to a child started in a process group of its own (detached), SIGKILL to what is
 * left of the group after half a second; resolves once the child has exited (or after 1 s).
 */
export async function stopProcessGroup(child: Pick<ChildProcess, 'pid' | 'exitCode' | 'signalCode' | 'once'>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* the group is gone */
    }
  };
  signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 500)));
  await Promise.race([exited, late]);
  clearTimeout(timer);
  signal('SIGKILL'); // whatever of the group outlived the shell
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 500).unref())]);
}
