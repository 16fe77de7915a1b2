import type { ExecOptions, ExecResult, Transport } from './transport.js';

/**
 * One connection per machine for a whole command: steps borrow it instead of each
 * paying for an SSH handshake. Borrowers' close() is a no-op; closeAll() ends them.
 */
export class ConnectionPool {
  private readonly open = new Map<string, Promise<Transport>>();

  async get(key: string, connect: () => Promise<Transport>): Promise<Transport> {
    let pending = this.open.get(key);
    if (!pending) {
      pending = connect();
      this.open.set(key, pending);
      pending.catch(() => this.open.delete(key));
    }
    const t = await pending;
    return new Borrowed(t, () => this.open.delete(key));
  }

  /** Closes and forgets one machine's connection (it was stopped or removed: the next get connects anew). */
  async drop(key: string): Promise<void> {
    const pending = this.open.get(key);
    this.open.delete(key);
    await pending?.then((t) => t.close()).catch(() => {});
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
  }
}

/** A pooled transport: a failure of the connection itself drops it from the pool. */
class Borrowed implements Transport {
  constructor(
    private readonly inner: Transport,
    private readonly drop: () => void,
  ) {}

  get machine(): string {
    return this.inner.machine;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (/not connected|No response|ECONNRESET|socket|closed|Channel open failure/i.test(String((err as Error).message))) this.drop();
      throw err;
    }
  }

  exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    return this.guard(() => this.inner.exec(command, opts));
  }
  run(command: string, opts?: ExecOptions): Promise<string> {
    return this.guard(() => this.inner.run(command, opts));
  }
  upload(localPath: string, remotePath: string, mode?: number): Promise<void> {
    return this.guard(() => this.inner.upload(localPath, remotePath, mode));
  }
  writeFile(remotePath: string, data: string | Buffer, mode?: number): Promise<void> {
    return this.guard(() => this.inner.writeFile(remotePath, data, mode));
  }
  readFile(remotePath: string): Promise<Buffer> {
    return this.guard(() => this.inner.readFile(remotePath));
  }
  async close(): Promise<void> {}
}
