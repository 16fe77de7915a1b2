#!/usr/bin/env node
// How cost grows with the number of web nodes (issue 13, part 4), netns, through the real CLI
// (node bin/labctl, i.e. dist/: `npm run build` first). Root only. In one run:
//   cache fill   one lab's deploy compiles Redis into the build cache of this run's own home
//   per size N   a lab with 1 Redis + N web nodes, then (--cluster-nodes) a lab with a 3-master
//                Redis Cluster + N web nodes: create, deploy (warm cache), verify, teardown, and
//                the highest sustained chat rate with cross-node p99 < 50 ms and nothing lost for
//                  chat   labctl's app (its rate limit lifted in the spec: the limit is the system's)
//                  raw    Redis PUBLISH -> SUBSCRIBE of the same shape (ioredis, the lab's password);
//                         on a cluster SPUBLISH -> SSUBSCRIBE (sharded, as the chat's adapter)
//                  docs   scripts/bench/socketio-docs-server.cjs on the same web nodes: socket.io +
//                         @socket.io/redis-adapter, one publish per message (socket.io's documentation;
//                         on a cluster its ioredis-Cluster example: classic PUBLISH, not sharded)
// Shape: 2 clients per web node, every client receives every message (N x 2 publishers and
// subscribers for raw). Search: doubling from 250 messages/s, then bisecting; each trial a few
// seconds (a rate counts as over when it fails twice in a row), measured by this process on its own clock (traffic to the lab's addresses only).
// Labs bench-scale-N on 198.18.170.0/24 .. 198.18.179.0/24; everything is removed on exit,
// error or Ctrl-C.
//
//   sudo node scripts/bench-scale.mjs [--nodes 2,4,8,16] [--cluster-nodes 2,4,8] [--quick] [--json]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { checkBuilt, cleanOnSignals, fail, forceRemoveLab, labLeftovers, runLabctl, secs } from './lib/bench-lab.mjs';
import { searchRate } from './lib/rate-search.mjs';

const USAGE = `usage: sudo node scripts/bench-scale.mjs [--nodes 2,4,8,16] [--cluster-nodes 2,4,8] [--quick] [--json]
  --nodes LIST          web node counts with a single Redis, comma-separated, each 1..16
                        (default 2,4,8,16; --quick: 2,4)
  --cluster-nodes LIST  web node counts with a 3-master Redis Cluster (default 2,4,8; --quick: 2;
                        "none": no cluster rows)
  --quick               a smaller run: fewer sizes and shorter trials
  --json        print the results as one JSON document on stdout (progress on stderr)
  --help        this text`;

const args = process.argv.slice(2);
let nodesArg;
let clusterArg;
let QUICK = false;
let JSON_OUT = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--help' || a === '-h') {
    console.log(USAGE);
    process.exit(0);
  } else if (a === '--quick') QUICK = true;
  else if (a === '--json') JSON_OUT = true;
  else if (a === '--nodes' || a.startsWith('--nodes=')) {
    nodesArg = a === '--nodes' ? args[++i] : a.slice('--nodes='.length);
    if (nodesArg === undefined) fail('--nodes needs a list, e.g. --nodes 2,4,8,16');
  } else if (a === '--cluster-nodes' || a.startsWith('--cluster-nodes=')) {
    clusterArg = a === '--cluster-nodes' ? args[++i] : a.slice('--cluster-nodes='.length);
    if (clusterArg === undefined) fail('--cluster-nodes needs a list, e.g. --cluster-nodes 2,4,8, or none');
  } else fail(`unknown argument ${JSON.stringify(a)} (see --help)`);
}
function sizes(option, text) {
  if (option === '--cluster-nodes' && text === 'none') return [];
  const list = text.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : NaN));
  if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) fail(`${option} needs web node counts from 1 to 16, comma-separated (got ${JSON.stringify(text)})`);
  if (new Set(list).size !== list.length) fail(`${option} lists a count twice`);
  return list;
}
const SIZES = sizes('--nodes', nodesArg ?? (QUICK ? '2,4' : '2,4,8,16'));
const CLUSTER_SIZES = sizes('--cluster-nodes', clusterArg ?? (QUICK ? '2' : '2,4,8'));
if (SIZES.length + CLUSTER_SIZES.length > 9) fail('--nodes and --cluster-nodes take at most 9 sizes together (one /24 each)');
const MASTERS = 3;
if (process.getuid?.() !== 0) fail('the netns benchmark creates network namespaces: run it as root (sudo node scripts/bench-scale.mjs)');

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
checkBuilt(ROOT);
const BIN = path.join(ROOT, 'bin/labctl');
const DOCS_SERVER = path.join(ROOT, 'scripts/bench/socketio-docs-server.cjs');
const { measureDelivery } = await import(path.join(ROOT, 'dist/verify/delivery.js'));
const { measureRawPubSub } = await import('./bench/raw-pubsub.mjs');

const CLIENTS_PER_NODE = 2;
const TRIAL_S = QUICK ? 1.5 : 2;
const START_RATE = 250;
const MAX_RATE = 64_000;
const BISECT = QUICK ? 2 : 3;
const DOCS_PORT = 3000;

const log = (line) => (JSON_OUT ? console.error(line) : console.log(line));
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-bench-scale-'));
const home = path.join(tmp, 'home');
const env = { ...process.env, LABCTL_HOME: home };
delete env.LABCTL_CACHE;

/** lab i (0 = the cache fill) on 198.18.(170+i).0/24; cluster: 3 masters redis1..3 on .201-.203 */
function makeLab(n, i, { name = `bench-scale-${n}`, cluster = false } = {}) {
  const net = `198.18.${170 + i}`;
  const spec = path.join(tmp, `${name}.yaml`);
  const web = Array.from({ length: n }, (_, k) => ({ name: `web${k + 1}`, ip: `${net}.${11 + k}` }));
  const redis = cluster ? Array.from({ length: MASTERS }, (_, k) => ({ name: `redis${k + 1}`, ip: `${net}.${201 + k}` })) : [{ name: 'redis', ip: `${net}.10` }];
  writeFileSync(
    spec,
    [
      `name: ${name}`,
      'provider: netns',
      `network: { subnet: ${net}.0/24 }`,
      `redis: { version: 7.0.15, port: 6379${cluster ? `, topology: cluster, masters: ${MASTERS}` : ''} }`,
      'app:',
      '  port: 80',
      '  rateLimit: { perSecond: 100000, burst: 100000 }   # the system, not the per-connection limit, sets the pace',
      'machines:',
      ...redis.map((r) => `  ${r.name}: { role: redis, os: ubuntu, ip: ${r.ip} }`),
      ...web.map((w) => `  ${w.name}: { role: web, os: windows, ip: ${w.ip} }`),
      '',
    ].join('\n'),
  );
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
  const labDir = path.join(home, 'labs', name);
  return { name, n, net, spec, web, redis, cluster, hash, labDir };
}

const labs = [];
const docsServers = new Set();
const labctl = (lab, argv, timeoutMs) => runLabctl(BIN, ['--spec', lab.spec, '--home', home, ...argv], { env, timeoutMs });
async function ok(lab, argv, timeoutMs) {
  const r = await labctl(lab, argv, timeoutMs);
  if (r.code !== 0) {
    // a failed verify --json: its failing checks, not the first screen of every check
    let failing;
    try {
      failing = JSON.parse(r.stdout).checks?.filter((c) => !c.ok).map((c) => `  ✗ ${c.name}${c.node ? ` (${c.node})` : ''}: ${c.reason}`);
    } catch {
      /* not JSON */
    }
    throw new Error(`labctl ${argv.join(' ')} (${lab.name}) failed (exit ${r.code}):\n${r.stderr.split('\n').slice(-15).join('\n')}${failing?.length ? failing.join('\n') : r.stdout.slice(0, 2000)}`);
  }
  return r;
}
function stopDocs() {
  for (const c of docsServers) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  docsServers.clear();
}
async function removeLab(lab) {
  stopDocs();
  if (labLeftovers(lab.name, lab.hash, lab.labDir).length > 0) await labctl(lab, ['teardown', '--yes'], 60_000).catch(() => undefined);
  const forced = forceRemoveLab(lab.name, lab.hash, lab.labDir);
  if (forced.length > 0) console.error(`bench: had to force-remove what teardown left: ${forced.join(', ')}`);
}
let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  for (const lab of labs) await removeLab(lab);
  rmSync(tmp, { recursive: true, force: true });
}
cleanOnSignals(cleanup);

// ---- the trials ------------------------------------------------------------------------------

async function chatTrial(nodes, rate) {
  const clients = nodes.length * CLIENTS_PER_NODE;
  const perClient = rate / clients;
  const r = await measureDelivery({ nodes, clientsPerNode: CLIENTS_PER_NODE, messagesPerClient: Math.max(1, Math.round(perClient * TRIAL_S)), ratePerClient: perClient, settleMs: 2000 });
  const good = r.failures.length === 0 && r.lost === 0 && r.refused === 0 && r.duplicated === 0 && r.crossNodeLatencyMs.p99 < 50 && r.sendRatePerSec >= 0.9 * rate;
  return { ok: good, rate, achieved: Math.round(r.sendRatePerSec), p50: r.crossNodeLatencyMs.p50, p99: r.crossNodeLatencyMs.p99, lost: r.lost + r.refused, note: r.failures[0] };
}
async function rawTrial(lab, password, rate) {
  const clients = lab.n * CLIENTS_PER_NODE;
  const target = lab.cluster ? { nodes: lab.redis.map((x) => ({ host: x.ip, port: 6379 })), password } : { host: lab.redis[0].ip, port: 6379, password };
  const r = await measureRawPubSub({ target, publishers: clients, subscribers: clients, rate, durationMs: TRIAL_S * 1000, settleMs: 2000 });
  const good = r.lost === 0 && r.latencyMs.p99 < 50 && r.achievedRate >= 0.9 * rate;
  return { ok: good, rate, achieved: r.achievedRate, p50: r.latencyMs.p50, p99: r.latencyMs.p99, lost: r.lost };
}
const search = (label, trial, deadline) => searchRate({ label, trial, log, start: START_RATE, max: MAX_RATE, bisect: BISECT, deadline });

/** the socket.io-documentation server on every web node of `lab`, inside its namespace */
async function startDocs(lab, password) {
  const started = lab.web.map(
    (w) =>
      new Promise((resolve, reject) => {
        const c = spawn('ip', ['netns', 'exec', `labctl-${lab.name}-${w.name}`, process.execPath, DOCS_SERVER], {
          env: {
            ...process.env,
            HOST: w.ip,
            PORT: String(DOCS_PORT),
            NODE_NAME: w.name,
            REDIS_HOST: lab.redis[0].ip,
            REDIS_PORT: '6379',
            REDIS_PASSWORD: password,
            ...(lab.cluster ? { REDIS_NODES: lab.redis.map((x) => `${x.ip}:6379`).join(',') } : {}),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        docsServers.add(c);
        let err = '';
        const timer = setTimeout(() => reject(new Error(`docs server on ${w.name} not ready in 10 s: ${err}`)), 10_000);
        c.stderr.on('data', (d) => (err += d));
        c.stdout.on('data', (d) => {
          if (String(d).includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        c.on('exit', (code) => reject(new Error(`docs server on ${w.name} exited ${code}: ${err.slice(0, 500)}`)));
      }),
  );
  await Promise.all(started);
  await new Promise((r) => setTimeout(r, 300)); // the adapter's SUBSCRIBE
}

// ---- the run ---------------------------------------------------------------------------------

const results = { host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, startedAt: new Date().toISOString() }, criteria: { clientsPerNode: CLIENTS_PER_NODE, trialSeconds: TRIAL_S, p99Ms: 50 }, cacheFill: undefined, sizes: [] };
let exitCode = 0;
const t0 = performance.now();
try {
  // every lab of the run: the fill, the single-Redis sizes, then the cluster sizes
  const ROWS = [...SIZES.map((n) => ({ n, cluster: false })), ...CLUSTER_SIZES.map((n) => ({ n, cluster: true }))];
  const rowLab = (row, k) => makeLab(row.n, k + 1, row.cluster ? { name: `bench-scale-c${row.n}`, cluster: true } : {});
  for (const lab of [makeLab(1, 0, { name: 'bench-scale-fill' }), ...ROWS.map(rowLab)]) {
    if (labLeftovers(lab.name, lab.hash, lab.labDir).length > 0) {
      console.error(`bench: a lab ${lab.name} is already on this host; removing it first`);
      forceRemoveLab(lab.name, lab.hash, lab.labDir);
    }
  }
  log(`labctl scale benchmark: web nodes ${SIZES.join(', ') || 'none'} (single Redis), ${CLUSTER_SIZES.join(', ') || 'none'} (${MASTERS}-master Redis Cluster), ${CLIENTS_PER_NODE} clients per node, ${TRIAL_S} s trials${QUICK ? ' (--quick)' : ''}`);
  log(`host: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.version}, load average ${load()}`);

  // the cache fill: one lab compiles Redis into this run's home, then goes
  {
    const lab = makeLab(1, 0, { name: 'bench-scale-fill' });
    labs.push(lab);
    await ok(lab, ['create']);
    const d = await ok(lab, ['deploy', '--json'], 1_800_000);
    const t = await ok(lab, ['teardown', '--yes']);
    results.cacheFill = { deployMs: Math.round(d.ms), teardownMs: Math.round(t.ms) };
    log(`cache fill (1 web node): cold deploy ${secs(d.ms)} (Redis compiled into the build cache), teardown ${secs(t.ms)}  (load ${load()})`);
  }

  // each row gets an even share of a budget for its searches: ~3.25 minutes a row (--quick: ~2)
  const budgetMs = ROWS.length * (QUICK ? 2 : 3.25) * 60_000;
  for (const [k, row] of ROWS.entries()) {
    const n = row.n;
    const lab = rowLab(row, k);
    labs.push(lab);
    const backplane = row.cluster ? `${MASTERS}-master cluster` : 'single Redis';
    log(`\n${n} web nodes, ${backplane} (${lab.net}.0/24), load average ${load()}`);
    const c = await ok(lab, ['create']);
    const d = await ok(lab, ['deploy', '--json'], 600_000);
    const steps = JSON.parse(readFileSync(path.join(lab.labDir, 'state.json'), 'utf8')).steps;
    const from = [...new Set(lab.redis.map((r) => steps[`redis:${r.name}:build`]?.info?.from))].join('+');
    const v = await ok(lab, ['verify', '--json']);
    log(`  create ${secs(c.ms)}, deploy ${secs(d.ms)} (Redis from ${from}), verify ${secs(v.ms)}`);
    const password = readFileSync(path.join(lab.labDir, 'secrets/redis_password'), 'utf8').trim();
    const share = (budgetMs - (performance.now() - t0)) / (ROWS.length - k);
    const deadline = () => performance.now() + Math.max(20_000, share / 3);
    const chatNodes = lab.web.map((w) => ({ name: w.name, url: `http://${w.ip}` }));
    const loadBefore = os.loadavg()[0];
    const chat = await search('chat', (r) => chatTrial(chatNodes, r), deadline());
    const raw = await search('raw pub/sub', (r) => rawTrial(lab, password, r), deadline());
    await startDocs(lab, password);
    const docsNodes = lab.web.map((w) => ({ name: w.name, url: `http://${w.ip}:${DOCS_PORT}` }));
    const docs = await search('socket.io docs', (r) => chatTrial(docsNodes, r), deadline());
    stopDocs();
    const t = await ok(lab, ['teardown', '--yes']);
    const left = labLeftovers(lab.name, lab.hash, lab.labDir);
    if (left.length > 0) throw new Error(`teardown left: ${left.join(', ')}`);
    const figures = { nodes: n, backplane: row.cluster ? `cluster-${MASTERS}` : 'single', createMs: Math.round(c.ms), deployMs: Math.round(d.ms), redisFrom: from, verifyMs: Math.round(v.ms), teardownMs: Math.round(t.ms), chat: chat.best, chatBound: chat.bound, raw: raw.best, rawBound: raw.bound, docs: docs.best, docsBound: docs.bound, load1: [Number(loadBefore.toFixed(2)), Number(os.loadavg()[0].toFixed(2))], trials: { chat: chat.trials, raw: raw.trials, docs: docs.trials } };
    results.sizes.push(figures);
    log(`  teardown ${secs(t.ms)}; highest rate with cross-node p99 < 50 ms, nothing lost: chat ${chat.best}/s, raw ${raw.best}/s, socket.io docs ${docs.best}/s  (load ${load()})`);
  }
  results.totalMs = Math.round(performance.now() - t0);
  results.loadAverageEnd = os.loadavg();
  const bound = (best, b) => (b ? `${best}` : `≥ ${best}`);
  const lines = [
    '',
    `| web nodes | Redis | create | deploy (warm cache) | verify | teardown | chat msg/s | raw pub/sub msg/s | socket.io docs msg/s | load (1 min) |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...results.sizes.map((r) => `| ${r.nodes} | ${r.backplane === 'single' ? 'single' : `cluster, ${MASTERS} masters`} | ${secs(r.createMs)} | ${secs(r.deployMs)} | ${secs(r.verifyMs)} | ${secs(r.teardownMs)} | ${bound(r.chat, r.chatBound)} | ${bound(r.raw, r.rawBound)} | ${bound(r.docs, r.docsBound)} | ${r.load1.join(' → ')} |`),
    '',
    `msg/s: the highest rate (doubling from ${START_RATE}, then bisecting; ${TRIAL_S} s trials) with cross-node p99 < 50 ms and nothing lost (over = failed twice), ${CLIENTS_PER_NODE} clients per node, every client receiving every message ("≥": no failing rate found within the search's time).`,
    `cache fill: cold deploy ${secs(results.cacheFill.deployMs)}. whole run ${secs(results.totalMs)}, load average at the end ${load()}`,
  ];
  if (JSON_OUT) {
    console.error(lines.join('\n'));
    console.log(JSON.stringify(results, null, 2));
  } else console.log(lines.join('\n'));
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : err}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exitCode = exitCode;
