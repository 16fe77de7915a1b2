import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { OperationError } from '../util/errors.js';
import type { ExecOptions, ExecResult, Transport } from './transport.js';

/**
 * The host itself behind the Transport interface, so a script that runs on a machine
 * over SSH can run on the host unchanged (netns machines have no route out, so the
 * host fetches sources for them).
 */
export class LocalTransport implements Transport {
  readonly machine = 'host';

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const child = execa('sh', ['-c', command], {
      input: opts.stdin,
      reject: false,
      timeout: opts.timeoutMs,
      stripFinalNewline: false,
      buffer: true,
    });
    child.stdout?.on('data', (c: Buffer) => opts.onStdout?.(c));
    child.stderr?.on('data', (c: Buffer) => opts.onStderr?.(c));
    const r = await child;
    return { code: typeof r.exitCode === 'number' ? r.exitCode : 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
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
