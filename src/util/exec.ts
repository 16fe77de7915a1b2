import { execa } from 'execa';
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

/** Runs a program on the host (never through a shell: arguments are passed as they are). */
export async function runHost(file: string, args: string[], opts: HostRunOptions = {}): Promise<HostRunResult> {
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
