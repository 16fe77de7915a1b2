/**
 * What a netns lab may leave on the host, looked up independently of labctl's own
 * `leftovers()`: namespaces, links (by labctl's names and by any address or route in the lab's
 * subnet), nftables tables, processes (by command line and by network namespace) and files.
 * Also a last-resort cleanup that removes exactly those things, for tests that failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { bridgeName, labHash, natTableName } from '../../src/providers/netns/names.js';
import { contains, parseCidr, parseIPv4, subnetOf, overlaps } from '../../src/spec/ipv4.js';

/** What identifies one lab on the host. LabFixture satisfies it. */
export interface LabIdentity {
  name: string;
  /** e.g. 198.18.10.0/24 */
  subnet: string;
  /** LABCTL_HOME of the lab */
  home: string;
  /** extra folders whose mention in a process's command line counts as a leftover process */
  extraDirs?: string[];
  /**
   * inodes of the lab's network namespaces, remembered while they existed: a process still in
   * one of them after teardown keeps the namespace alive even when /run/netns has no entry
   */
  namespaceInodes?: Set<number>;
}

export function labDir(lab: LabIdentity): string {
  return path.join(lab.home, 'labs', lab.name);
}

export function namespacePrefix(lab: LabIdentity): string {
  return `labctl-${lab.name}-`;
}

function ipJson<T>(args: string[]): T[] {
  const r = spawnSync('ip', ['-j', ...args], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.trim()) return [];
  return JSON.parse(r.stdout) as T[];
}

/** The lab's namespaces that exist now (from `ip netns list`). */
export function labNamespaces(lab: LabIdentity): string[] {
  return ipJson<{ name: string }>(['netns', 'list'])
    .map((n) => n.name)
    .filter((n) => n.startsWith(namespacePrefix(lab)));
}

/** Inodes of the lab's namespaces that exist now. */
export function namespaceInodes(lab: LabIdentity): Map<string, number> {
  const out = new Map<string, number>();
  for (const ns of labNamespaces(lab)) {
    try {
      out.set(ns, statSync(`/run/netns/${ns}`).ino);
    } catch {
      /* went away meanwhile */
    }
  }
  return out;
}

/**
 * The remembered inodes of the lab's namespaces, less those that now belong to another named
 * namespace: a namespace's inode number is reused once it is freed, and a test running at the same
 * time (the suite runs in two lanes) may have made a namespace that got one. Seen in CI: a netns
 * test counted the simulated Hyper-V bridge's sshd, in its own lsg-* namespace, as its leftover.
 */
function ownNamespaceInodes(lab: LabIdentity): Set<number> {
  const remembered = lab.namespaceInodes ?? new Set<number>();
  if (remembered.size === 0 || !existsSync('/run/netns')) return remembered;
  const prefix = namespacePrefix(lab);
  const foreign = new Set<number>();
  for (const ns of readdirSync('/run/netns')) {
    if (ns.startsWith(prefix)) continue;
    try {
      foreign.add(statSync(`/run/netns/${ns}`).ino);
    } catch {
      /* went away meanwhile */
    }
  }
  return new Set([...remembered].filter((ino) => !foreign.has(ino)));
}

function linkPrefixes(lab: LabIdentity): string[] {
  const h = labHash(lab.name);
  return [bridgeName(lab.name), `lcv${h}`, `lcp${h}`];
}

/** Host links that belong to the lab: by labctl's naming, or holding an address in its subnet. */
export function labLinks(lab: LabIdentity): string[] {
  const subnet = parseCidr(lab.subnet).subnet;
  if (!subnet) throw new Error(`bad subnet ${lab.subnet}`);
  const found = new Set<string>();
  const prefixes = linkPrefixes(lab);
  for (const l of ipJson<{ ifname: string }>(['link', 'show'])) {
    if (prefixes.some((p) => l.ifname.startsWith(p))) found.add(l.ifname);
  }
  for (const l of ipJson<{ ifname: string; addr_info?: { local: string }[] }>(['-4', 'addr', 'show'])) {
    for (const a of l.addr_info ?? []) {
      const ip = parseIPv4(a.local);
      if (ip !== undefined && contains(subnet, ip)) found.add(l.ifname);
    }
  }
  return [...found];
}

/** Host routes into the lab's subnet. */
export function labRoutes(lab: LabIdentity): string[] {
  const subnet = parseCidr(lab.subnet).subnet!;
  const out: string[] = [];
  for (const r of ipJson<{ dst: string; dev?: string; table?: string }>(['-4', 'route', 'show', 'table', 'all'])) {
    if (r.dst === 'default') continue;
    const [addr, bits] = r.dst.split('/');
    const a = parseIPv4(addr ?? '');
    if (a === undefined) continue;
    if (overlaps(subnetOf(a, bits === undefined ? 32 : Number(bits)), subnet)) {
      out.push(`${r.dst} dev ${r.dev ?? '?'}${r.table ? ` table ${r.table}` : ''}`);
    }
  }
  return out;
}

/** Is the process there and not a zombie (this host's init may be slow to reap what it adopted)? */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Does the command line mention the path (followed by "/", a space or the end)? */
function mentions(cmd: string, dir: string): boolean {
  for (let i = cmd.indexOf(dir); i !== -1; i = cmd.indexOf(dir, i + 1)) {
    const next = cmd[i + dir.length];
    if (next === undefined || next === '/' || next === ' ') return true;
  }
  return false;
}

/** Processes (other than this one) whose command line mentions one of the folders, or that sit in one of the namespaces. */
export function labProcesses(dirs: string[], inodes: Set<number> = new Set()): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmd === '') continue; // kernel thread or zombie
      const inNs = inodes.size > 0 && inodes.has(statSync(`/proc/${pid}/ns/net`).ino);
      if (inNs || dirs.some((d) => mentions(cmd, d))) out.push({ pid, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function nftTableExists(table: string): boolean {
  const r = spawnSync('nft', ['list', 'table', 'ip', table], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * Everything of the lab still on the host, one line each; [] when nothing is left.
 * Checks `ip netns`, `ip -j link` (+ addresses and routes in the subnet), nftables, processes
 * (command line mentions the lab folder or extraDirs, or the process is in one of the lab's
 * remembered namespaces) and files (the lab folder, /run/netns entries).
 */
export function leftovers(lab: LabIdentity): string[] {
  const left: string[] = [];
  for (const ns of labNamespaces(lab)) left.push(`network namespace ${ns}`);
  if (existsSync('/run/netns')) {
    for (const f of readdirSync('/run/netns')) if (f.startsWith(namespacePrefix(lab))) left.push(`file /run/netns/${f}`);
  }
  for (const l of labLinks(lab)) left.push(`link ${l}`);
  for (const r of labRoutes(lab)) left.push(`route ${r}`);
  if (nftTableExists(natTableName(lab.name))) left.push(`nftables table ip ${natTableName(lab.name)}`);
  const dir = labDir(lab);
  for (const p of labProcesses([dir, ...(lab.extraDirs ?? [])], ownNamespaceInodes(lab))) {
    left.push(`process ${p.pid}: ${p.cmd}`);
  }
  if (existsSync(dir)) {
    const files = listFiles(dir);
    left.push(`folder ${dir}${files.length > 0 ? ` holding ${files.slice(0, 8).join(', ')}${files.length > 8 ? ', ...' : ''}` : ' (empty)'}`);
  }
  return [...new Set(left)];
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(path.relative(dir, full));
    }
  };
  try {
    walk(dir);
  } catch {
    /* gone meanwhile */
  }
  return out;
}

/**
 * Last resort after a failed test: removes whatever of the lab is still there (processes,
 * namespaces, links, nftables table, the lab folder), touching only things named after this
 * lab or inside its subnet. Returns what it had to remove.
 */
export function forceCleanup(lab: LabIdentity): string[] {
  const found = leftovers(lab);
  if (found.length === 0) return [];
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  for (const ns of labNamespaces(lab)) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).map(Number);
    pids.forEach(kill);
  }
  const dir = labDir(lab);
  for (const p of labProcesses([dir, ...(lab.extraDirs ?? [])], ownNamespaceInodes(lab))) kill(p.pid);
  for (const ns of labNamespaces(lab)) spawnSync('ip', ['netns', 'del', ns]);
  for (const l of labLinks(lab)) spawnSync('ip', ['link', 'del', l]);
  if (nftTableExists(natTableName(lab.name))) spawnSync('nft', ['delete', 'table', 'ip', natTableName(lab.name)]);
  rmSync(dir, { recursive: true, force: true });
  return found;
}

/** `ip netns` and `ip link` of the whole host, for a final look in a report. */
export function hostNetworkSummary(): string {
  const run = (args: string[]) => {
    try {
      return execFileSync('ip', args, { encoding: 'utf8' }).trim();
    } catch (err) {
      return `(ip ${args.join(' ')} failed: ${(err as Error).message})`;
    }
  };
  return `ip netns:\n${run(['netns']) || '(none)'}\nip -br link:\n${run(['-br', 'link'])}`;
}
