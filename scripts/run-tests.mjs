#!/usr/bin/env node
// The whole suite in two lanes at once, each lane one file at a time (`npm test`, after the build):
//   host     test/unit, then test/hyperv-sim (real PowerShell against the simulated Hyper-V host)
//   netns    test/netns (root: the end-to-end labs) and one long simulated-host file, then the
//            Windows-Node suite under Wine
// Why lanes: most of the suite waits (labs booting, sshd, PowerShell sessions, timeouts), so two
// files at a time nearly halve the wall time on 2 cores; every test already owns its subnet,
// its home and its processes (test/helpers/README.md), so two lanes never share a thing.
// Within a lane files stay serial: a netns file that measures recovery in ms should have at
// most one other file beside it. Each lane's output goes to its own file and is printed whole
// when the lane ends, so the log reads file by file; the last lines sum the lanes up.
//
//   node scripts/run-tests.mjs [--serial] [--lane host|netns]
//   --serial   one lane after the other (the old `--test-concurrency=1` order)
//   --lane X   only that lane
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: node scripts/run-tests.mjs [--serial] [--lane host|netns]';
const files = (dir) =>
  readdirSync(path.join(root, dir))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `${dir}/${f}`);
const nodeTest = (list) => [process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...list]];
// The longest simulated-host file runs in the netns lane, which would otherwise end minutes
// earlier (measured: host 1215 s, netns 872 s with it in the host lane).
const MOVED = ['test/hyperv-sim/lb.test.ts'];
const LANES = {
  host: [nodeTest([...files('test/unit'), ...files('test/hyperv-sim').filter((f) => !MOVED.includes(f))])],
  netns: [nodeTest([...files('test/netns'), ...MOVED]), [process.execPath, ['scripts/test-windows-node.mjs']]],
};

const args = process.argv.slice(2);
let serial = false;
let only;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--serial') serial = true;
  else if (args[i] === '--lane' && LANES[args[i + 1]]) only = args[++i];
  else if (args[i] === '--help') {
    console.log(USAGE);
    process.exit(0);
  } else {
    console.error(`run-tests: unknown argument ${JSON.stringify(args[i])}; ${USAGE}`);
    process.exit(2);
  }
}

const logs = mkdtempSync(path.join(os.tmpdir(), 'labctl-test-lanes-'));
const running = new Set();
const secs = (ms) => `${Math.round(ms / 1000)} s`;

/**
 * Runs one command of a lane to its end, its output appended to the lane's file; resolves its exit
 * code. Meanwhile each top-level result line (a test file's suites: "✔ name (12.3ms)") is printed
 * as it comes, with the lane's name, so a long run shows its progress.
 */
function runCommand(lane, [file, argv], out) {
  return new Promise((resolve) => {
    const child = spawn(file, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let partial = '';
    child.stdout.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^(✔|✖) (.*) \(([\d.]+)ms\)$/.exec(line);
        if (m) console.log(`  ${lane.padEnd(5)} ${m[1]} ${m[2].slice(0, 110)} (${(Number(m[3]) / 1000).toFixed(1)} s)`);
      }
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', (err) => {
      out.write(`run-tests: ${file}: ${err.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

async function runLane(name) {
  const started = Date.now();
  const logFile = path.join(logs, `${name}.log`);
  const out = createWriteStream(logFile);
  console.log(`run-tests: lane ${name} started`);
  let code = 0;
  for (const command of LANES[name]) {
    const c = await runCommand(name, command, out);
    if (c !== 0) code = c;
  }
  await new Promise((r) => out.end(r));
  const text = readFileSync(logFile, 'utf8');
  process.stdout.write(`\n======== lane ${name} (${secs(Date.now() - started)}) ========\n${text}`);
  // the spec reporter's totals (ℹ pass N), one set per node --test run in the lane
  const total = (what) => [...text.matchAll(new RegExp(`^ℹ ${what} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  const windows = text.match(/^windows-node: (\d+) passed, (\d+) failed$/m);
  return { name, code, ms: Date.now() - started, pass: total('pass') + Number(windows?.[1] ?? 0), fail: total('fail') + Number(windows?.[2] ?? 0) };
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of running) {
      try {
        process.kill(-child.pid, 'SIGINT');
      } catch {
        /* gone */
      }
    }
    setTimeout(() => process.exit(130), 5000).unref();
  });
}

const started = Date.now();
const names = only ? [only] : Object.keys(LANES);
const results = [];
if (serial) for (const n of names) results.push(await runLane(n));
else results.push(...(await Promise.all(names.map(runLane))));
rmSync(logs, { recursive: true, force: true });
console.log('');
for (const r of results) console.log(`run-tests: lane ${r.name}: ${r.pass} passed, ${r.fail} failed, exit ${r.code}, ${secs(r.ms)}`);
const failed = results.filter((r) => r.code !== 0);
console.log(`run-tests: ${failed.length === 0 ? 'all lanes passed' : `FAILED: ${failed.map((r) => r.name).join(', ')}`} in ${secs(Date.now() - started)}${serial ? ' (serial)' : ''}`);
process.exitCode = failed.length === 0 ? 0 : 1;
