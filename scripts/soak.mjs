#!/usr/bin/env node
// Soak (issue 11, part 7), on a lab host (root, netns; after `npm run build`):
//   sudo node scripts/soak.mjs [--minutes 10] [--backplane both|pubsub|streams] [--restart-every 60]
//                              [--clients 2] [--rate 16] [--subnet 198.18.141.0/24] [--redis-tarball F] [--json]
// Makes a lab of its own (own LABCTL_HOME, the subnet above), then for each backplane (the minutes
// split between them) chats at a steady rate through every web node while Redis is restarted
// every --restart-every seconds. Prints per backplane: sent / received / lost / duplicated / out of
// order, each restart's reconnect times (every app's Redis link back, delivery resumed per node)
// and each app process's memory (VmRSS) at start and end (and before each restart). The lab is torn down at the end, after
// Ctrl-C and after its time bound too. Exit 0 when it ran (the figures are the result), 1 when it
// could not, 2 for bad arguments.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function usage(message) {
  process.stderr.write(`soak: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { minutes: 10, backplane: 'both', restartEvery: 60, clients: 2, rate: 16, subnet: '198.18.141.0/24', redisTarball: undefined, json: false };
  const number = (flag, v, min, max) => {
    const n = /^\d+(\.\d+)?$/.test(v ?? '') ? Number(v) : NaN;
    if (!(n >= min && n <= max)) usage(`${flag} must be a number from ${min} to ${max}, got ${JSON.stringify(v ?? '')}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--minutes') (opts.minutes = number(a, v, 0.25, 120)), i++;
    else if (a === '--restart-every') (opts.restartEvery = number(a, v, 5, 3600)), i++;
    else if (a === '--clients') (opts.clients = Math.floor(number(a, v, 1, 50))), i++;
    else if (a === '--rate') (opts.rate = number(a, v, 1, 1000)), i++;
    else if (a === '--backplane') {
      if (!['both', 'pubsub', 'streams'].includes(v)) usage(`--backplane must be both, pubsub or streams, got ${JSON.stringify(v ?? '')}`);
      (opts.backplane = v), i++;
    } else if (a === '--subnet') {
      if (!/^198\.(18|19)\.\d{1,3}\.0\/24$/.test(v ?? '')) usage(`--subnet must be a /24 of 198.18.0.0/15 (the addresses reserved for tests), got ${JSON.stringify(v ?? '')}`);
      (opts.subnet = v), i++;
    } else if (a === '--redis-tarball') {
      if (!v) usage('--redis-tarball needs a file');
      (opts.redisTarball = path.resolve(v)), i++;
    } else if (a === '--json') opts.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
      process.exit(0);
    } else usage(`unknown argument ${JSON.stringify(a)} (--help lists them)`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
if (process.getuid?.() !== 0) usage('run it as root on a lab host: it makes a netns lab of its own');
const modes = opts.backplane === 'both' ? ['pubsub', 'streams'] : [opts.backplane];
const perModeMs = (opts.minutes * 60_000) / modes.length;
if (perModeMs < opts.restartEvery * 1000 + 20_000) usage(`${opts.minutes} min for ${modes.length} backplane(s) leaves ${Math.round(perModeMs / 1000)} s each: less than one restart (--restart-every ${opts.restartEvery}) and the 20 s after it`);

const { openLab } = await import(path.join(repo, 'dist/cli/context.js'));
const { measureDelivery } = await import(path.join(repo, 'dist/verify/delivery.js'));
const { analyzeFault } = await import(path.join(repo, 'dist/verify/fault-analysis.js'));
const { getHealth } = await import(path.join(repo, 'dist/verify/http.js'));

const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-soak-'));
const home = path.join(root, 'home');
const specFile = path.join(root, 'soak.yaml');
const name = `soak-${randomBytes(2).toString('hex')}`;
const net = opts.subnet.replace(/\.0\/24$/, '');
const source = opts.redisTarball ? `{ tarball: ${JSON.stringify(opts.redisTarball)} }` : 'auto';
const writeSpec = (backplane) =>
  writeFileSync(
    specFile,
    `name: ${name}
provider: netns
network: { subnet: ${opts.subnet} }
redis: { version: 7.0.15, port: 6379, channel: ChatApp, backplane: ${backplane}, source: ${source} }
app: { port: 80 }
machines:
  redis: { role: redis, os: ubuntu, ip: ${net}.10 }
  web1: { role: web, os: windows, ip: ${net}.11 }
  web2: { role: web, os: windows, ip: ${net}.12 }
`,
  );

const log = (line) => process.stderr.write(`${line}\n`);
function labctl(...args) {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin/labctl'), '--home', home, '--spec', specFile, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 10 * 60_000 });
  if (r.status !== 0) {
    // with --json labctl's error is the JSON document on stdout, not a line on stderr
    const why = [r.stderr, args.includes('--json') ? r.stdout : ''].map((t) => (t ?? '').trim()).filter(Boolean).join('\n');
    throw new Error(`labctl ${args.join(' ')} exited ${r.status ?? r.signal}:\n${why.split('\n').slice(-15).join('\n')}`);
  }
  return r.stdout;
}

let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  const r = spawnSync(process.execPath, [path.join(repo, 'bin/labctl'), '--home', home, '--spec', specFile, 'teardown', '--yes'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) log(`soak: teardown of ${name} exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').pop()} (home ${home} kept)`);
  else rmSync(root, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`soak: ${sig}: removing lab ${name}`);
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}
// the bound: the soak itself, a cold up with a Redis compile, a deploy per backplane, teardown
const boundMs = opts.minutes * 60_000 + 10 * 60_000;
const guard = setTimeout(() => {
  log(`soak: still running after ${Math.round(boundMs / 60_000)} min, its bound: stopping`);
  cleanup();
  process.exit(1);
}, boundMs);
guard.unref();

/** VmRSS of a web node's app (its pid from the pidfile in the machine's folder, /proc shared with the namespace) */
function appMemory(lab, machine) {
  const pidFile = path.join(lab.store.machineDir(machine), 'run/labctl-chat/app.pid');
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    return { pid, rssMiB: Math.round((kb / 1024) * 10) / 10 };
  } catch (err) {
    return { pid: undefined, rssMiB: undefined, error: err.message };
  }
}

async function soakOne(backplane) {
  const lab = openLab({ spec: specFile, home }, 'soak', { lock: false });
  try {
    const webs = lab.spec.machines.filter((m) => m.role === 'web');
    const redis = lab.spec.machines.find((m) => m.role === 'redis');
    const memoryStart = Object.fromEntries(webs.map((w) => [w.name, appMemory(lab, w.name)]));
    // also sampled before each restart: a fresh process grows while it warms up, a leak keeps growing
    const samples = Object.fromEntries(webs.map((w) => [w.name, [memoryStart[w.name].rssMiB]]));
    const restart = await lab.provider.faults(lab).prepare('redis-restart', redis, { downMs: 0 });
    const restarts = [];
    const everyMs = opts.restartEvery * 1000;
    try {
      log(`soak ${backplane}: ${Math.round(perModeMs / 1000)} s, ${opts.clients} clients per node at ${opts.rate}/s each, Redis restarted every ${opts.restartEvery} s`);
      let sendStart = 0;
      const delivery = await measureDelivery({
        nodes: webs.map((m) => ({ name: m.name, url: `http://${m.ip}:${lab.spec.app.port}` })),
        clientsPerNode: opts.clients,
        messagesPerClient: Math.ceil((opts.rate * perModeMs) / 1000),
        ratePerClient: opts.rate,
        ackTimeoutMs: 20_000,
        settleMs: 10_000,
        fault: {
          atMs: everyMs,
          // every restart in turn, while at least 20 s of sending is left after it
          inject: async () => {
            sendStart = performance.now() - everyMs;
            let first;
            for (let k = 1; sendStart + k * everyMs + 20_000 <= sendStart + perModeMs; k++) {
              const wait = sendStart + k * everyMs - performance.now();
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
              for (const m of webs) samples[m.name].push(appMemory(lab, m.name).rssMiB);
              const w = await restart.run();
              first ??= w;
              const appsBack = {};
              await Promise.all(
                webs.map(async (m) => {
                  for (const deadline = performance.now() + 20_000; performance.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
                    const h = await getHealth(m.ip, lab.spec.app.port, 500).catch(() => undefined);
                    if (h?.redis === 'connected') return void (appsBack[m.name] = Math.round(performance.now() - w.startedAt));
                  }
                  appsBack[m.name] = null;
                }),
              );
              restarts.push({ window: w, appsBack });
              log(`  restart ${restarts.length} at ${Math.round((w.startedAt - sendStart) / 1000)} s: Redis back after ${Math.round(w.endedAt - w.startedAt)} ms; apps connected again after ${Object.entries(appsBack).map(([n, ms]) => `${n} ${ms ?? 'never'} ms`).join(', ')}`);
            }
            return first;
          },
        },
        onProgress: (t) => log(`  ${t}`),
      });
      const trace = delivery.trace;
      const perRestart = restarts.map((r, i) => {
        const a = trace ? analyzeFault(delivery, { ...trace, window: r.window }, backplane) : undefined;
        return {
          restart: i + 1,
          atS: Math.round((r.window.startedAt - (trace?.sendStart ?? 0)) / 100) / 10,
          redisBackMs: Math.round(r.window.endedAt - r.window.startedAt),
          appsConnectedAfterMs: r.appsBack,
          deliveryResumedAfterMs: Object.fromEntries((a?.perNode ?? []).map((n) => [n.node, n.recoveryMs === null ? null : Math.round(n.recoveryMs + r.window.endedAt - r.window.startedAt)])),
        };
      });
      const memoryEnd = Object.fromEntries(webs.map((w) => [w.name, appMemory(lab, w.name)]));
      return {
        backplane,
        seconds: Math.round(perModeMs / 1000),
        sent: delivery.sent,
        refused: delivery.refused,
        expected: delivery.expected,
        received: delivery.received,
        lost: delivery.lost,
        duplicated: delivery.duplicated,
        outOfOrder: delivery.outOfOrder,
        perNode: delivery.perNode,
        restarts: perRestart,
        memory: Object.fromEntries(webs.map((w) => [w.name, { start: memoryStart[w.name], end: memoryEnd[w.name], samplesMiB: [...samples[w.name], memoryEnd[w.name].rssMiB] }])),
      };
    } finally {
      await restart.close();
    }
  } finally {
    await lab.close();
  }
}

const results = [];
let failed;
try {
  log(`soak: lab ${name} on ${opts.subnet} (home ${home})`);
  writeSpec(modes[0]);
  labctl('up', '--json');
  for (const [i, mode] of modes.entries()) {
    if (i > 0) {
      writeSpec(mode);
      labctl('deploy', '--json');
    }
    results.push(await soakOne(mode));
  }
} catch (err) {
  failed = err;
} finally {
  cleanup();
  clearTimeout(guard);
}

if (opts.json) process.stdout.write(JSON.stringify({ ok: !failed, lab: name, minutes: opts.minutes, restartEverySeconds: opts.restartEvery, results, ...(failed ? { error: failed.message } : {}) }, null, 2) + '\n');
else {
  for (const r of results) {
    console.log(`\n${r.backplane}: ${r.seconds} s, Redis restarted ${r.restarts.length} times`);
    console.log(`  sent ${r.sent} (refused ${r.refused}); receipts expected ${r.expected}, received ${r.received}, lost ${r.lost}, duplicated ${r.duplicated}, out of order ${r.outOfOrder}`);
    for (const x of r.restarts) {
      console.log(
        `  restart ${x.restart} at ${x.atS} s: Redis back ${x.redisBackMs} ms; apps connected ${Object.entries(x.appsConnectedAfterMs).map(([n, ms]) => `${n} ${ms ?? 'never'} ms`).join(', ')}; delivery resumed ${Object.entries(x.deliveryResumedAfterMs).map(([n, ms]) => `${n} ${ms ?? 'never'} ms`).join(', ')}`,
      );
    }
    for (const [node, m] of Object.entries(r.memory)) {
      const same = m.start.pid === m.end.pid ? '' : ` (pid ${m.start.pid} → ${m.end.pid}: restarted)`;
      console.log(`  ${node} app memory (VmRSS): ${m.start.rssMiB} MiB at start, ${m.end.rssMiB} MiB at end${same}; at start, before each restart, at end: ${m.samplesMiB.join(' → ')} MiB`);
    }
  }
  if (failed) console.error(`soak: ${failed.message}`);
}
process.exit(failed ? 1 : 0);
