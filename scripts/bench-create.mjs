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
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, runOptions, secs, threeMachineLab } from './lib/bench-lab.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LAB = 'bench-netns';
const SUBNET = '198.18.250';
const TARGET = { create: 3000, teardown: 2000 };

const { runs: RUNS, strict: STRICT } = runOptions(ROOT, 'bench-create.mjs');
const { labctl, namespaces, leftovers, cleanup } = threeMachineLab({ root: ROOT, name: LAB, subnet: SUBNET, tmpPrefix: 'labctl-bench-' });

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
