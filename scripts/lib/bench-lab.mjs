// What the benchmark scripts share: running labctl as a child with timing, finding and
// force-removing a bench lab's namespaces and links, and the figures' formatting.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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
