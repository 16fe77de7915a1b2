import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { runHost } from '../../util/exec.js';
import { sleep } from '../../util/time.js';

/** Small queries and actions on the host's network objects, through iproute2. */

export function namespaceExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

export async function linkExists(name: string): Promise<boolean> {
  const r = await runHost('ip', ['-j', 'link', 'show', 'dev', name], { allowFail: true });
  return r.code === 0;
}

/** A link's state (in namespace `ns` when given), or undefined when there is no such link. */
export async function linkState(name: string, ns?: string): Promise<{ up: boolean; master?: string } | undefined> {
  const r = await runHost('ip', [...(ns ? ['-n', ns] : []), '-j', 'link', 'show', 'dev', name], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  const link = (JSON.parse(r.stdout) as { flags?: string[]; master?: string }[])[0];
  return link && { up: (link.flags ?? []).includes('UP'), master: link.master };
}

/** The gateway of the default route in namespace `ns`, if it has one. */
export async function defaultGateway(ns: string): Promise<string | undefined> {
  const r = await runHost('ip', ['-n', ns, '-j', '-4', 'route', 'show', 'default'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  return (JSON.parse(r.stdout) as { gateway?: string }[])[0]?.gateway;
}

export async function listNamespaces(): Promise<string[]> {
  const r = await runHost('ip', ['-j', 'netns', 'list'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

export async function listLinks(): Promise<string[]> {
  const r = await runHost('ip', ['-j', 'link', 'show']);
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

export async function namespacePids(ns: string): Promise<number[]> {
  const r = await runHost('ip', ['netns', 'pids', ns], { allowFail: true });
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

export async function addressesOf(ns: string, iface: string): Promise<string[]> {
  const r = await runHost('ip', ['-n', ns, '-j', '-4', 'addr', 'show', 'dev', iface], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const data = JSON.parse(r.stdout) as { addr_info?: { local: string; prefixlen: number }[]; operstate?: string }[];
  return (data[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** Alive and not a zombie (a container's init may be slow to reap what it adopted). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Is the process inside the named network namespace? (compares namespace inodes) */
export function processInNamespace(pid: number, ns: string): boolean {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${ns}`).ino;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL for whatever is still there after `graceMs`. */
export async function killAll(pids: number[], graceMs = 1500): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(25);
    alive = alive.filter(isAlive);
  }
  for (const pid of alive) signal(pid, 'SIGKILL');
  const hardDeadline = Date.now() + 2000;
  while (alive.some(isAlive) && Date.now() < hardDeadline) await sleep(20);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Processes on the host whose command line mentions `needle` (e.g. the lab's folder). */
export function processesMentioning(needle: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (cmd.includes(needle)) out.push({ pid, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

