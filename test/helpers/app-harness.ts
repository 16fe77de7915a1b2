/**
 * Runs the real chat bundle against a real redis-server (Debian's binary), all on loopback, each
 * test with its own processes. Everything started here is killed by `cleanup()`, failures included.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { GiveUp, sleep, waitFor } from './wait.js';
import type {
  ChatAck,
  ChatMessage,
  ClientToServerEvents,
  HealthReport,
  JoinAck,
  Notice,
  ServerToClientEvents,
  StatusUpdate,
  Welcome,
} from '../../src/app/protocol.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const serverBundle = path.join(repoRoot, 'dist', 'app', 'server.cjs');

let bundled: Promise<unknown> | undefined;

/** Builds dist/app once per test process, with the same script `npm run build` uses. */
export async function buildBundle(): Promise<void> {
  bundled ??= promisify(execFile)(process.execPath, [path.join(repoRoot, 'scripts', 'bundle-app.mjs')], {
    cwd: repoRoot,
    timeout: 60_000,
  });
  await bundled;
}

export { GiveUp, sleep };

/** Polls `check` until it returns something other than undefined/false, or fails naming `what`. */
export function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000): Promise<T> {
  return waitFor(what, check, { timeoutMs, intervalMs: 25 });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

class Managed {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;

  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      proc.once('error', (err) => {
        // e.g. spawn redis-server ENOENT: the package is not installed
        this.stderr += `${err.message}\n`;
        this.exit ??= { code: null, signal: null };
        resolve(this.exit);
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Waits for `text` on stdout; fails early with the process's output if it exits first. */
  async waitForOutput(text: string, timeoutMs: number, label: string): Promise<void> {
    await waitUntil(
      `${label} to print "${text}"`,
      () => {
        if (this.stdout.includes(text)) return true;
        if (!this.running) {
          throw new GiveUp(`${label} exited (${JSON.stringify(this.exit)}): ${this.stderr || this.stdout}`);
        }
        return false;
      },
      timeoutMs,
    );
  }

  /** Sends `signal` and waits (bounded) for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<Exit> {
    if (this.running) this.proc.kill(signal);
    return this.exitWithin(timeoutMs, `${signal}`);
  }

  async exitWithin(timeoutMs: number, after = 'start'): Promise<Exit> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([
      this.exited,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (exit === undefined) throw new Error(`process ${this.proc.pid} did not exit within ${timeoutMs} ms of ${after}`);
    return exit;
  }
}

export class RedisProcess extends Managed {
  constructor(
    proc: ChildProcess,
    readonly port: number,
    readonly password: string,
  ) {
    super(proc);
  }
}

export class AppProcess extends Managed {
  constructor(
    proc: ChildProcess,
    readonly node: string,
    /** http://127.0.0.1:PORT, or undefined when listening on a socket path */
    readonly url: string | undefined,
    readonly env: Record<string, string>,
  ) {
    super(proc);
  }

  async health(): Promise<HealthReport> {
    const res = await fetch(`${this.url}/healthz`);
    if (res.status !== 200) throw new Error(`healthz answered ${res.status}`);
    return (await res.json()) as HealthReport;
  }
}

export class Harness {
  private tempDir: string | undefined;
  // Made on first use: a suite that is skipped or filtered out never runs its `after` to remove it.
  get dir(): string {
    return (this.tempDir ??= mkdtempSync(path.join(os.tmpdir(), 'labctl-app-test-')));
  }
  private readonly processes = new Set<Managed>();
  private readonly clients = new Set<TestClient>();

  /** Starts redis-server on `port` (a free one if omitted) with a fresh random password. */
  async startRedis(port?: number, password = randomBytes(18).toString('base64url')): Promise<RedisProcess> {
    for (let attempt = 1; ; attempt++) {
      const p = port ?? (await freePort());
      const proc = spawn(
        'redis-server',
        ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password, '--dir', this.dir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const redis = new RedisProcess(proc, p, password);
      this.processes.add(redis);
      try {
        await redis.waitForOutput('Ready to accept connections', 5000, `redis-server on port ${p}`);
        return redis;
      } catch (err) {
        await redis.stop();
        // Another process may take a "free" port between the probe and the bind: try another one.
        if (port === undefined && attempt < 3 && /in use/i.test(redis.stdout + redis.stderr)) continue;
        throw err;
      }
    }
  }

  passwordFile(password: string): string {
    const file = path.join(this.dir, `pw-${randomBytes(4).toString('hex')}`);
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    return file;
  }

  /** Environment for an app talking to `redis`. */
  redisEnv(redis: RedisProcess): Record<string, string> {
    return {
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(redis.port),
      REDIS_PASSWORD_FILE: this.passwordFile(redis.password),
    };
  }

  /** Runs the bundle with exactly `env` (plus PATH), without waiting for anything. */
  spawnApp(env: Record<string, string>): AppProcess {
    const proc = spawn(process.execPath, [serverBundle], {
      // Not process.env: the test runner's own NODE_OPTIONS (tsx) must not leak into the app.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = env.PORT && /^\d+$/.test(env.PORT) ? `http://127.0.0.1:${env.PORT}` : undefined;
    const app = new AppProcess(proc, env.NODE_NAME ?? os.hostname(), url, env);
    this.processes.add(app);
    return app;
  }

  /** Starts the app on a free loopback port and waits until it listens. */
  async startApp(env: Record<string, string>): Promise<AppProcess> {
    const app = this.spawnApp({ PORT: String(await freePort()), HOST: '127.0.0.1', ...env });
    await app.waitForOutput('listening on', 5000, `app ${app.node}`);
    return app;
  }

  async client(app: AppProcess, options: { transports?: string[] } = {}): Promise<TestClient> {
    if (app.url === undefined) throw new Error('this app listens on a socket path');
    const client = new TestClient(app.url, options.transports ?? ['websocket']);
    this.clients.add(client);
    await client.connected();
    return client;
  }

  async joinedClient(app: AppProcess, name: string): Promise<TestClient> {
    const client = await this.client(app);
    const ack = await client.join(name);
    if (!ack.ok) throw new Error(`join refused: ${ack.error}`);
    return client;
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients) client.close();
    await Promise.allSettled([...this.processes].map((p) => p.stop('SIGKILL')));
    if (this.tempDir !== undefined) rmSync(this.tempDir, { recursive: true, force: true });
  }
}

export class TestClient {
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  readonly messages: ChatMessage[] = [];
  readonly notices: Notice[] = [];
  readonly statuses: StatusUpdate[] = [];
  welcome: Welcome | undefined;
  disconnectReason: string | undefined;

  constructor(url: string, transports: string[]) {
    this.socket = io(url, { transports, forceNew: true, reconnection: false, timeout: 3000 });
    this.socket.on('chat', (m) => this.messages.push(m));
    this.socket.on('chats', (batch) => this.messages.push(...batch));
    this.socket.on('notice', (n) => this.notices.push(n));
    this.socket.on('status', (s) => this.statuses.push(s));
    this.socket.on('welcome', (w) => (this.welcome = w));
    this.socket.on('disconnect', (reason) => (this.disconnectReason = reason));
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
  }

  join(name: string): Promise<JoinAck> {
    return this.socket.timeout(3000).emitWithAck('join', name);
  }

  send(text: string): Promise<ChatAck> {
    return this.socket.timeout(3000).emitWithAck('chat', { text });
  }

  /** Emits any payload, as a misbehaving client could. */
  emitRaw(event: 'join' | 'chat', payload: unknown): Promise<JoinAck | ChatAck> {
    return (this.socket as unknown as Socket).timeout(3000).emitWithAck(event, payload);
  }

  waitForMessage(text: string, timeoutMs = 3000): Promise<ChatMessage> {
    return waitUntil(`a message "${text.slice(0, 40)}"`, () => this.messages.find((m) => m.text === text), timeoutMs);
  }

  count(text: string): number {
    return this.messages.filter((m) => m.text === text).length;
  }

  close(): void {
    this.socket.close();
  }
}

/** GET over a Unix socket, for an app listening on a path (as iisnode's pipe would be). */
export function getOverSocket(socketPath: string, urlPath: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: urlPath, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A unique text per call, so assertions never match a message from another test. */
export function uniqueText(label: string): string {
  return `${label} ${randomBytes(6).toString('hex')}`;
}
