#!/usr/bin/env node
// Benchmark of the Redis build cache (issue 13, part 3) on the netns provider, through the real
// CLI (node bin/labctl, i.e. dist/: `npm run build` first). In one run, with an empty cache:
//   cold   labctl up                 Redis compiled from the distribution's source, then kept
//   warm   labctl teardown --yes, then labctl up   (N times): Redis installed from the cache
// and prints each figure, the warm/cold ratio and the targets (teardown + up <= 5 s, up <= 0.15 x
// the cold up). It also checks from the lab's journal that the cold build compiled and every warm
// one came from the cache. Root only. Lab "bench-cache" on 198.18.151.0/24 with its own home (and
// cache) in a temporary folder; everything is removed on exit, error or Ctrl-C.
//
// Like bench-scaleout.mjs, the lab lifts the chat servers' per-connection rate limit so verify
// sends at once: these figures are about building and deploying. verify at the seed spec's pace
// (16 messages/s per client, ~3 s) is measured once on its own and printed too.
//
//   sudo node scripts/bench-cache.mjs [--runs N] [--strict]
//
// --strict: exit 1 when a target is missed (otherwise the exit code only reports errors).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBuilt, fail, forceRemoveLab, labLeftovers, median, runLabctl, secs } from './lib/bench-lab.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/labctl');
const LAB = 'bench-cache';
const SUBNET = '198.18.151';
const TARGET = { warmMs: 5000, ratio: 0.15 };

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
const STRICT = args.includes('--strict');
if (!Number.isInteger(RUNS) || RUNS < 1) fail('--runs needs a whole number of at least 1');
if (process.getuid?.() !== 0) fail('the netns benchmark creates network namespaces: run it as root (sudo node scripts/bench-cache.mjs)');
checkBuilt(ROOT);

const hash = createHash('sha256').update(LAB).digest('hex').slice(0, 6);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-bench-cache-'));
const home = path.join(tmp, 'home');
const spec = path.join(tmp, 'bench.yaml');
const labDir = path.join(home, 'labs', LAB);
writeFileSync(
  spec,
  [
    `name: ${LAB}`,
    'provider: netns',
    `network: { subnet: ${SUBNET}.0/24 }`,
    'redis: { version: 7.0.15 }',
    'app:',
    '  rateLimit: { perSecond: 100000, burst: 100000 }   # verify sends at once (see above)',
    'machines:',
    `  redis: { role: redis, os: ubuntu,  ip: ${SUBNET}.10 }`,
    `  web1:  { role: web,   os: windows, ip: ${SUBNET}.11 }`,
    `  web2:  { role: web,   os: windows, ip: ${SUBNET}.12 }`,
    '',
  ].join('\n'),
);
// the cache under this run's own home: the cold up must find it empty
const env = { ...process.env, LABCTL_HOME: home };
delete env.LABCTL_CACHE;
const labctl = (argv, timeoutMs) => runLabctl(BIN, ['--spec', spec, '--home', home, ...argv], { env, timeoutMs });
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

if (leftovers().length > 0) {
  console.error(`bench: a lab ${LAB} is already on this host; removing it first`);
  forceRemove();
}

const load = () => os.loadavg()[0].toFixed(2);
console.log(`labctl build cache benchmark: lab ${LAB} (3 machines, ${SUBNET}.0/24), 1 cold up, ${RUNS} teardown + warm up`);
console.log(`host: ${os.cpus().length} CPUs, node ${process.version}, load average ${load()}`);
let exitCode = 0;
try {
  const cold = await ok(['up', '--json'], 1_800_000);
  const coldBuild = buildStep();
  if (coldBuild?.from !== 'source') throw new Error(`the cold up did not compile Redis (build step: ${JSON.stringify(coldBuild)})`);
  console.log(`cold up:  ${secs(cold.ms)}  (${phases(cold)}; Redis compiled from ${JSON.parse(cold.stdout).redisSource}; ${coldBuild.cache})`);

  const warm = [];
  for (let i = 1; i <= RUNS; i++) {
    const down = await ok(['teardown', '--yes']);
    const up = await ok(['up', '--json']);
    const b = buildStep();
    if (b?.from !== 'cache') throw new Error(`warm up ${i} did not install Redis from the cache (build step: ${JSON.stringify(b)})`);
    warm.push({ teardown: down.ms, up: up.ms, total: down.ms + up.ms });
    console.log(`warm ${i}:   teardown ${secs(down.ms)} + up ${secs(up.ms)} = ${secs(down.ms + up.ms)}  (${phases(up)}; build step ${b.seconds} s from cache ${b.cacheKey.slice(0, 12)})  (load ${load()})`);
  }
  const seedPace = await ok(['verify', '--json', '--rate', '16']);
  console.log(`labctl verify at the seed spec's pace (--rate 16, 2 x 2 clients x 50 messages), for comparison: ${secs(seedPace.ms)}`);
  const entries = JSON.parse((await ok(['cache', 'ls', '--json'])).stdout).entries;
  console.log(`cache: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, ${(entries.reduce((n, e) => n + e.bytes, 0) / 1e6).toFixed(1)} MB`);

  const upMedian = median(warm.map((w) => w.up));
  const totalMedian = median(warm.map((w) => w.total));
  const ratio = upMedian / cold.ms;
  const lines = [
    '',
    `cold up                 ${secs(cold.ms)}`,
    `warm up (median)        ${secs(upMedian)}   (min ${secs(Math.min(...warm.map((w) => w.up)))}, max ${secs(Math.max(...warm.map((w) => w.up)))})`,
    `teardown + warm up      ${secs(totalMedian)}   target <= ${secs(TARGET.warmMs)}: ${totalMedian <= TARGET.warmMs ? 'met' : 'MISSED'}`,
    `warm up / cold up       ${ratio.toFixed(3)}    target <= ${TARGET.ratio}: ${ratio <= TARGET.ratio ? 'met' : 'MISSED'}`,
  ];
  if (STRICT && (totalMedian > TARGET.warmMs || ratio > TARGET.ratio)) exitCode = 1;
  console.log(lines.join('\n'));
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : err}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exitCode = exitCode;

// ---------------------------------------------------------------------------------------------

async function ok(argv, timeoutMs) {
  const r = await labctl(argv, timeoutMs);
  if (r.code !== 0) throw new Error(`labctl ${argv.join(' ')} failed (exit ${r.code}):\n${r.stderr.split('\n').slice(-15).join('\n')}${r.stdout.slice(0, 2000)}`);
  return r;
}

function phases(r) {
  const p = JSON.parse(r.stdout).phasesMs;
  return Object.entries(p).map(([k, v]) => `${k} ${secs(v)}`).join(', ');
}

/** the Redis build step's record in the lab's journal: from source or from the cache */
function buildStep() {
  try {
    return JSON.parse(readFileSync(path.join(labDir, 'state.json'), 'utf8')).steps['redis:redis:build']?.info;
  } catch {
    return undefined;
  }
}
