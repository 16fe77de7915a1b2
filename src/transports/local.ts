import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { onInterrupt, throwIfInterrupted } from '../util/cancel.js';
import { OperationError } from '../util/errors.js';
import { stopProcessGroup } from '../util/exec.js';
import type { ExecOptions, ExecResult, Transport } from './transport.js';

/**
 * The host itself behind the Transport interface, so a script that runs on a machine
 * over SSH can run on the host unchanged (netns machines have no route out, so the
 * host fetches sources for them).
 */
export class LocalTransport implements Transport {
  readonly machine = 'host';

  /**
   * Runs the command in a process group of its own, so that an interruption or the timeout
   * stops all of it (apt-get and its download methods, not only the shell).
   */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    throwIfInterrupted();
    const child = execa('sh', ['-c', command], {
      input: opts.stdin,
      reject: false,
      stripFinalNewline: false,
      buffer: true,
      detached: true,
    });
    const stop = () => stopProcessGroup(child);
    const unregister = onInterrupt(stop);
    const timer = opts.timeoutMs ? setTimeout(() => void stop(), opts.timeoutMs) : undefined;
    child.stdout?.on('data', (c: Buffer) => opts.onStdout?.(c));
    child.stderr?.on('data', (c: Buffer) => opts.onStderr?.(c));
    try {
      const r = await child;
      return { code: typeof r.exitCode === 'number' ? r.exitCode : 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
    } finally {
      unregister();
      if (timer) clearTimeout(timer);
    }
  }

  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) {
      const tail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join('\n  ');
      throw new OperationError(`host: "${command.slice(0, 80)}" exited with ${r.code}${tail ? `:\n  ${tail}` : ''}`);
    }
    return r.stdout;
  }

  async upload(localPath: string, remotePath: string, mode = 0o644): Promise<void> {
    copyFileSync(localPath, remotePath);
    chmodSync(remotePath, mode);
  }

  async writeFile(remotePath: string, data: string | Buffer, mode = 0o644): Promise<void> {
    writeFileSync(remotePath, data, { mode });
    chmodSync(remotePath, mode);
  }

  async readFile(remotePath: string): Promise<Buffer> {
    return readFileSync(remotePath);
  }

  async close(): Promise<void> {}
}
