/**
 * Shared by the test/windows suite. These tests run under Node.js for Windows (node.exe under
 * Wine, compiled to .build/windows by scripts/test-windows-node.mjs) and, unchanged, under
 * Linux Node through tsx. So: no tsx child scripts (esbuild has no Windows binary here), and a
 * child's stdout and stderr go to files (under Wine, Node's stdio on a Unix pipe fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * The checkout: the nearest folder above this file (test/windows, or .build/windows/test/windows)
 * with bin/labctl and package.json. Not read: package.json may be mid-rewrite by npm.
 */
export const REPO_ROOT = (() => {
  for (let dir = HERE; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'bin', 'labctl')) && existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no labctl checkout (bin/labctl) above ${HERE}`);
  }
})();

/** True when these tests run from their TypeScript source (tsx on Linux), false when compiled. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

export function tempDir(name: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `labctl-win-${name}-`));
}

/** node's arguments to run a script beside this file (lock-holder, ...) the way this file runs. */
export function scriptArgs(name: string): string[] {
  return FROM_SOURCE ? ['--import', 'tsx', path.join(HERE, `${name}.ts`)] : [path.join(HERE, `${name}.js`)];
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function describeRun(r: Run): string {
  return `exit ${r.code} after ${r.ms} ms\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}---`;
}

/** Starts this node (process.execPath) with stdout and stderr going to files in `outDir`. */
export function startNode(args: string[], outDir: string, opts: { cwd?: string; env?: Record<string, string> } = {}): ChildProcess {
  const out = openSync(path.join(outDir, 'stdout'), 'w');
  const err = openSync(path.join(outDir, 'stderr'), 'w');
  try {
    return spawn(process.execPath, args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', out, err],
      windowsHide: true,
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/** Runs this node with `args` to the end (bounded), its output read back from files. */
export async function runNode(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  const outDir = tempDir('run');
  const started = Date.now();
  const child = startNode(args, outDir, opts);
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return {
    code,
    stdout: readFileSync(path.join(outDir, 'stdout'), 'utf8'),
    stderr: readFileSync(path.join(outDir, 'stderr'), 'utf8'),
    ms: Date.now() - started,
  };
}

/** `labctl ARGS` exactly as a user runs it: node bin/labctl (which loads dist/). */
export function labctl(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const entry = path.join(REPO_ROOT, 'dist/cli/main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npx tsc -p tsconfig.json)`);
  return runNode([path.join(REPO_ROOT, 'bin/labctl'), ...args], opts);
}

/** True when the text holds what looks like a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+(:\d+:\d+\)?|\(native\))$/m.test(text) || /node:internal\//.test(text);
}

/** Polls `probe` every 20 ms until it returns a value; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
