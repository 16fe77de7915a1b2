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
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, runOptions, secs, threeMachineLab } from './lib/bench-lab.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LAB = 'bench-cache';
const SUBNET = '198.18.151';
const TARGET = { warmMs: 5000, ratio: 0.15 };

const { runs: RUNS, strict: STRICT } = runOptions(ROOT, 'bench-cache.mjs');
const { labctl, leftovers, labDir, cleanup } = threeMachineLab({
  root: ROOT,
  name: LAB,
  subnet: SUBNET,
  tmpPrefix: 'labctl-bench-cache-',
  appLines: ['app:', '  rateLimit: { perSecond: 100000, burst: 100000 }   # verify sends at once (see above)'],
});

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
