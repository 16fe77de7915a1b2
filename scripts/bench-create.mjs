#!/usr/bin/env node
// Benchmark of the netns provider: creates and tears down the 3-machine lab N times through the
// real CLI (node bin/labctl, i.e. dist/: build first with `npx tsc -p .`) and prints the wall
// time of every `labctl create` and `labctl teardown --yes`, their medians and the targets
// (create <= 3 s, teardown <= 2 s). Root only. Lab "bench-netns" on 198.18.250.0/24 with its
// own LABCTL_HOME in a temporary folder; everything is removed on exit, error or Ctrl-C.
//
//   sudo node scripts/bench-create.mjs [--runs N] [--strict]
//
// --strict: exit 1 when a median misses its target (otherwise the exit code only reports errors).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBuilt, fail, forceRemoveLab, labLeftovers, labNamespaces, median, runLabctl, secs } from './lib/bench-lab.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/labctl');
const LAB = 'bench-netns';
const SUBNET = '198.18.250';
const TARGET = { create: 3000, teardown: 2000 };

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
const STRICT = args.includes('--strict');
if (!Number.isInteger(RUNS) || RUNS < 1) fail('--runs needs a whole number of at least 1');
if (process.getuid?.() !== 0) fail('the netns benchmark creates network namespaces: run it as root (sudo node scripts/bench-create.mjs)');
checkBuilt(ROOT);

const hash = createHash('sha256').update(LAB).digest('hex').slice(0, 6);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-bench-'));
const home = path.join(tmp, 'home');
const spec = path.join(tmp, 'bench.yaml');
writeFileSync(
  spec,
  [
    `name: ${LAB}`,
    'provider: netns',
    `network: { subnet: ${SUBNET}.0/24 }`,
    'redis: { version: 7.0.15 }',
    'machines:',
    `  redis: { role: redis, os: ubuntu,  ip: ${SUBNET}.10 }`,
    `  web1:  { role: web,   os: windows, ip: ${SUBNET}.11 }`,
    `  web2:  { role: web,   os: windows, ip: ${SUBNET}.12 }`,
    '',
  ].join('\n'),
);
const labDir = path.join(home, 'labs', LAB);
const labctl = (argv, timeoutMs) => runLabctl(BIN, ['--spec', spec, '--home', home, ...argv], { env: { ...process.env, LABCTL_HOME: home }, timeoutMs });
const namespaces = () => labNamespaces(LAB);
const leftovers = () => labLeftovers(LAB, hash, labDir);
const forceRemove = () => forceRemoveLab(LAB, hash, labDir);

let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  if (leftovers().length > 0) await labctl(['teardown', '--yes'], 60_000).catch(() => undefined);
  const forced = forceRemove();
  if (forced.length > 0) console.error(`bench: had to force-remove what teardown left: ${forced.join(', ')}`);
  rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

const before = leftovers();
if (before.length > 0) {
  console.error(`bench: a lab ${LAB} is already on this host (${before.join(', ')}); removing it first`);
  forceRemove();
}

const load = () => os.loadavg()[0].toFixed(2);
console.log(`labctl netns benchmark: lab ${LAB} (3 machines, ${SUBNET}.0/24), ${RUNS} run${RUNS === 1 ? '' : 's'}`);
console.log(`host: ${os.cpus().length} CPUs, node ${process.version}, load average ${load()}`);
const results = { create: [], teardown: [] };
let exitCode = 0;
try {
  for (let i = 1; i <= RUNS; i++) {
    const c = await labctl(['create']);
    if (c.code !== 0) throw new Error(`create failed (exit ${c.code}):\n${c.stderr}${c.stdout}`);
    const ns = namespaces();
    if (ns.length !== 3) throw new Error(`create made ${ns.length} namespaces, expected 3`);
    const t = await labctl(['teardown', '--yes']);
    if (t.code !== 0) throw new Error(`teardown failed (exit ${t.code}):\n${t.stderr}${t.stdout}`);
    const left = leftovers();
    if (left.length > 0) throw new Error(`teardown left: ${left.join(', ')}`);
    results.create.push(c.ms);
    results.teardown.push(t.ms);
    console.log(`run ${i}: create ${secs(c.ms)}   teardown ${secs(t.ms)}   (load ${load()})`);
  }
  const lines = [];
  for (const what of ['create', 'teardown']) {
    const m = median(results[what]);
    const ok = m <= TARGET[what];
    if (!ok && STRICT) exitCode = 1;
    lines.push(
      `${what.padEnd(8)} median ${secs(m)}  (min ${secs(Math.min(...results[what]))}, max ${secs(Math.max(...results[what]))})` +
        `  target <= ${secs(TARGET[what])}: ${ok ? 'met' : 'MISSED'}`,
    );
  }
  console.log(lines.join('\n'));
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : err}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exitCode = exitCode;

// ---------------------------------------------------------------------------------------------
