#!/usr/bin/env node
// Start-up of the CLI: the wall time of `node bin/labctl --help` against a bare `node -e 0`
// (median of N runs each, alternated so both see the same machine), and their ratio against
// the target (help <= 2 x bare node). labctl loads a command's code only when it runs
// (src/cli/commands/catalog.ts), so --help loads commander and the catalog alone. It runs
// dist/: build first (npm run build). Figures are printed, not asserted.
//
//   node scripts/bench-cli.mjs [--runs N] [--strict]
//
// --strict: exit 1 when the ratio misses its target.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/labctl');
const TARGET = 2;
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 15;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('bench-cli: --runs needs a whole number of at least 1');
  process.exit(2);
}
if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
  console.error('bench-cli: not built yet; run "npm run build" first');
  process.exit(2);
}

function time(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT, env: { ...process.env, LABCTL_HOME: '/nonexistent-labctl-bench' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cases = {
  'node -e 0': ['-e', '0'],
  'labctl --help': [BIN, '--help'],
  'labctl status --help': [BIN, 'status', '--help'],
  'labctl --version': [BIN, '--version'],
};
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const argv of Object.values(cases)) time(argv); // warm the file cache
for (let i = 0; i < RUNS; i++) for (const [name, argv] of Object.entries(cases)) samples[name].push(time(argv));

const bare = median(samples['node -e 0']);
console.log(`bench-cli: ${RUNS} runs each, median wall time (node ${process.version}, ${process.platform})`);
for (const [name, xs] of Object.entries(samples)) {
  const m = median(xs);
  console.log(`  ${name.padEnd(22)} ${m.toFixed(1).padStart(7)} ms   ${(m / bare).toFixed(2)} × bare node   (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`);
}
const ratio = median(samples['labctl --help']) / bare;
console.log(`help time / bare node time: ${ratio.toFixed(2)} (target ≤ ${TARGET}): ${ratio <= TARGET ? 'met' : 'MISSED'}`);
if (args.includes('--strict') && ratio > TARGET) process.exit(1);
