/**
 * Running labctl from tests.
 *
 * - `runCli(args)` runs the CLI in this process (`run()` from src/cli/main.ts, through tsx) and
 *   captures what it writes. Fast; use it for commands that need no root and start no processes
 *   (validate, plan on an empty home, teardown of a lab that does not exist, ...).
 * - `labctl(args)` runs `node bin/labctl ...` as a child process, exactly as a user would (it
 *   runs dist/, so build first: `npx tsc -p .`; `assertBuilt()` fails clearly when dist/ is
 *   missing or older than src/). stdin is not a terminal. Every call has a timeout.
 * - `startLabctl(args)` starts it and hands back the child, for tests that kill it part-way.
 *
 * Set LABCTL_TEST_FROM_SRC=1 to make the child-process helpers run src/ through tsx instead of
 * dist/ (slower start, no build needed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LABCTL_BIN = path.join(REPO_ROOT, 'bin/labctl');
const SRC_ENTRY = path.join(REPO_ROOT, 'test/helpers/scripts/labctl-src.ts');

export interface CliResult {
  /** exit code; null when the process was ended by a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** wall time of the call in milliseconds */
  ms: number;
}

/** A readable summary of a result, for assertion messages. */
export function describeResult(r: CliResult): string {
  return `exit ${r.code ?? r.signal} after ${r.ms} ms\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}---`;
}

/** True when the text holds what looks like a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+(:\d+:\d+\)?|\(native\))$/m.test(text) || /node:internal\//.test(text);
}

// ---------------------------------------------------------------- in process

const capture = new AsyncLocalStorage<{ stdout: string[]; stderr: string[] }>();
let patched = false;

/**
 * Output is captured per call through AsyncLocalStorage: only writes made from inside the
 * call's async context are taken, so the test runner's own reporting (which also goes to this
 * process's stdout) passes through untouched, even while a call is awaiting.
 */
function patchStreams(): void {
  if (patched) return;
  patched = true;
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name];
    const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const store = capture.getStore();
      if (!store) return original(chunk, ...rest);
      store[name].push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof stream.write;
  }
}

/** Runs `fn` with what it (and whatever it awaits) writes to stdout/stderr captured, not shown. */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string; stderr: string }> {
  patchStreams();
  const store = { stdout: [] as string[], stderr: [] as string[] };
  const value = await capture.run(store, fn);
  return { value, stdout: store.stdout.join(''), stderr: store.stderr.join('') };
}

/**
 * Runs `labctl ...args` in this process and returns its exit code and output. Leaves
 * process.exitCode as it found it.
 */
export async function runCli(args: string[]): Promise<CliResult> {
  const { run } = await import('../../src/cli/main.js');
  const before = process.exitCode;
  const started = Date.now();
  try {
    const { value: code, stdout, stderr } = await captureOutput(() => run(['node', 'labctl', ...args]));
    return { code, signal: null, stdout, stderr, ms: Date.now() - started };
  } finally {
    process.exitCode = before;
  }
}

// ---------------------------------------------------------------- child process

export interface LabctlOptions {
  /** extra environment (merged over this process's) */
  env?: Record<string, string>;
  /** the child is sent SIGKILL after this long (default 120 s); the result then has signal set */
  timeoutMs?: number;
  cwd?: string;
}

function command(args: string[]): { file: string; argv: string[] } {
  if (process.env.LABCTL_TEST_FROM_SRC === '1') return { file: process.execPath, argv: ['--import', 'tsx', SRC_ENTRY, ...args] };
  return { file: process.execPath, argv: [LABCTL_BIN, ...args] };
}

/** Starts `labctl ...args` as a child (stdin not a terminal). The caller must wait for it or kill it. */
export function startLabctl(args: string[], opts: LabctlOptions = {}): ChildProcess {
  if (process.env.LABCTL_TEST_FROM_SRC !== '1') assertBuilt();
  const { file, argv } = command(args);
  return spawn(file, argv, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Waits for a child started with startLabctl (or any child with piped stdout/stderr). */
export function waitForChild(child: ChildProcess, timeoutMs = 120_000): Promise<CliResult> {
  const started = Date.now();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
  });
}

/**
 * Runs `labctl ...args` as a child process and waits for it (bounded by opts.timeoutMs). A stale
 * dist/ rejects rather than throws, so an after() hook's `.catch()` still goes on to its cleanup.
 */
export async function labctl(args: string[], opts: LabctlOptions = {}): Promise<CliResult> {
  const child = startLabctl(args, opts);
  return waitForChild(child, opts.timeoutMs ?? 120_000);
}

let builtChecked = false;

/**
 * Fails with a clear message when dist/ is missing or older than src/: the child-process
 * helpers run dist/, and a stale build would test old code.
 */
export function assertBuilt(): void {
  if (builtChecked) return;
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const rel = path.relative(path.join(REPO_ROOT, 'src'), full);
      if (entry.isDirectory()) {
        if (rel !== 'app') walk(full); // src/app is bundled separately (tsconfig excludes it)
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        // a file with no build output yet is new and not imported by anything built (its importer
        // would have changed, and be stale itself); a file changed after its build is stale
        const built = path.join(REPO_ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
        if (existsSync(built) && statSync(built).mtimeMs + 1 < statSync(full).mtimeMs) stale.push(rel);
      }
    }
  };
  if (!existsSync(path.join(REPO_ROOT, 'dist/cli/main.js'))) stale.push('cli/main.ts (not built)');
  walk(path.join(REPO_ROOT, 'src'));
  if (stale.length > 0) {
    throw new Error(
      `dist/ is missing or older than src/ (changed since the build: ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', ...' : ''}): ` +
        'run `npx tsc -p .` first (or set LABCTL_TEST_FROM_SRC=1 to run src/ through tsx)',
    );
  }
  builtChecked = true;
}
