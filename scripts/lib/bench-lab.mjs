// What the benchmark scripts share: running labctl as a child with timing, finding and
// force-removing a bench lab's namespaces and links, and the figures' formatting.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** Runs labctl (`bin`) with `argv`; resolves with its code (or signal), output and duration. */
export function runLabctl(bin, argv, { env = process.env, timeoutMs = 120_000 } = {}) {
  const started = performance.now();
  const child = spawn(process.execPath, [bin, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** The namespaces of netns lab `lab`. */
export function labNamespaces(lab) {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`labctl-${lab}-`)) : [];
}

/** The bridge and veths of the netns lab whose link names carry `hash`. */
export function labLinks(hash) {
  return readdirSync('/sys/class/net').filter((l) => l === `lcb${hash}` || l.startsWith(`lcv${hash}-`) || l.startsWith(`lcp${hash}-`));
}

export function labLeftovers(lab, hash, labDir) {
  return [...labNamespaces(lab).map((n) => `namespace ${n}`), ...labLinks(hash).map((l) => `link ${l}`), ...(existsSync(labDir) ? [`folder ${labDir}`] : [])];
}

/** Removes exactly the bench lab's namespaces (and their processes) and links; returns what was there. */
export function forceRemoveLab(lab, hash, labDir) {
  const found = labLeftovers(lab, hash, labDir);
  for (const ns of labNamespaces(lab)) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
  for (const l of labLinks(hash)) spawnSync('ip', ['link', 'del', l]);
  return found;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function secs(ms) {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

/** dist/ must exist and be newer than every src/ file it was built from. */
export function checkBuilt(root) {
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) fail('dist/ is missing: run `npm run build` first');
  const stale = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      const rel = path.relative(path.join(root, 'src'), full);
      if (e.isDirectory()) {
        if (rel !== 'app') walk(full);
      } else if (e.name.endsWith('.ts')) {
        const built = path.join(root, 'dist', rel.replace(/\.ts$/, '.js'));
        if (existsSync(built) && statSync(built).mtimeMs + 1 < statSync(full).mtimeMs) stale.push(rel);
      }
    }
  };
  walk(path.join(root, 'src'));
  if (stale.length > 0) fail(`dist/ is older than src/ (${stale.slice(0, 3).join(', ')}): run \`npm run build\` first`);
}

/** Runs `cleanup` on Ctrl-C or SIGTERM, then exits 130: a benchmark leaves nothing behind. */
export function cleanOnSignals(cleanup) {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }
}

/** --runs N (default 3) and --strict, the options of the repeated-run benchmarks; root and a fresh dist/ required. */
export function runOptions(root, script) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  if (!Number.isInteger(runs) || runs < 1) fail('--runs needs a whole number of at least 1');
  if (process.getuid?.() !== 0) fail(`the netns benchmark creates network namespaces: run it as root (sudo node scripts/${script})`);
  checkBuilt(root);
  return { runs, strict: args.includes('--strict') };
}

/**
 * The seed's three machines (redis .10, web1 .11, web2 .12) as netns lab `name` on `subnet`
 * (its first three octets), with its own home (and so its own build cache) in a temporary
 * folder: `labctl` runs the CLI on it, `cleanup` tears it down and removes what teardown left,
 * and a lab of that name already on the host is removed first. `appLines`: the spec's app section.
 */
export function threeMachineLab({ root, name, subnet, tmpPrefix, appLines = [] }) {
  const bin = path.join(root, 'bin/labctl');
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
  const tmp = mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  const home = path.join(tmp, 'home');
  const spec = path.join(tmp, 'bench.yaml');
  const labDir = path.join(home, 'labs', name);
  writeFileSync(
    spec,
    [
      `name: ${name}`,
      'provider: netns',
      `network: { subnet: ${subnet}.0/24 }`,
      'redis: { version: 7.0.15 }',
      ...appLines,
      'machines:',
      `  redis: { role: redis, os: ubuntu,  ip: ${subnet}.10 }`,
      `  web1:  { role: web,   os: windows, ip: ${subnet}.11 }`,
      `  web2:  { role: web,   os: windows, ip: ${subnet}.12 }`,
      '',
    ].join('\n'),
  );
  // the cache under this run's own home: a cold run must find it empty
  const env = { ...process.env, LABCTL_HOME: home };
  delete env.LABCTL_CACHE;
  const labctl = (argv, timeoutMs) => runLabctl(bin, ['--spec', spec, '--home', home, ...argv], { env, timeoutMs });
  const leftovers = () => labLeftovers(name, hash, labDir);
  let cleaning = false;
  const cleanup = async () => {
    if (cleaning) return;
    cleaning = true;
    if (leftovers().length > 0) await labctl(['teardown', '--yes'], 60_000).catch(() => undefined);
    const forced = forceRemoveLab(name, hash, labDir);
    if (forced.length > 0) console.error(`bench: had to force-remove what teardown left: ${forced.join(', ')}`);
    rmSync(tmp, { recursive: true, force: true });
  };
  cleanOnSignals(cleanup);
  const before = leftovers();
  if (before.length > 0) {
    console.error(`bench: a lab ${name} is already on this host (${before.join(', ')}); removing it first`);
    forceRemoveLab(name, hash, labDir);
  }
  return { name, subnet, hash, home, spec, labDir, labctl, leftovers, namespaces: () => labNamespaces(name), cleanup };
}
