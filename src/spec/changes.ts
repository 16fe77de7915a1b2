import type { LabSpec, MachineSpec } from './types.js';

/**
 * What differs between the spec a lab was created from (the copy kept in its folder) and the
 * spec file as it is now: the machines, their addresses and sizes, the network, the versions
 * and ports. Each change knows what `create` and `deploy` do about it.
 */
export interface SpecChange {
  /** e.g. "web3 added (10.1.0.13)", "redis.version 7.0.15 → 7.2.4" */
  text: string;
  /** what applies it: create (machines, addresses, network), deploy (Redis, the app), or nothing labctl changes in place */
  appliedBy: 'create' | 'deploy' | 'recreate' | 'none';
  /** a machine this change is about */
  machine?: string;
  kind: 'machine-added' | 'machine-removed' | 'machine-changed' | 'address' | 'network' | 'redis' | 'app' | 'other';
}

const size = (bytes: number) => (bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30}GB` : `${Math.round(bytes / 2 ** 20)}MB`);

export function specChanges(before: LabSpec, after: LabSpec): SpecChange[] {
  const out: SpecChange[] = [];
  const byName = (list: MachineSpec[]) => new Map(list.map((m) => [m.name, m]));
  const old = byName(before.machines);
  const now = byName(after.machines);
  for (const m of after.machines) {
    const was = old.get(m.name);
    if (!was) {
      out.push({ kind: 'machine-added', machine: m.name, appliedBy: 'create', text: `${m.name} added (${m.role}, ${m.ip})` });
      continue;
    }
    // a machine's address is in its own configuration (sshd, netplan, unattend.xml): remade, not edited
    if (was.ip !== m.ip) out.push({ kind: 'address', machine: m.name, appliedBy: 'recreate', text: `${m.name} ${was.ip} → ${m.ip}` });
    const what: string[] = [];
    if (was.role !== m.role) what.push(`role ${was.role} → ${m.role}`);
    if (was.os !== m.os) what.push(`os ${was.os} → ${m.os}`);
    if (was.cpus !== m.cpus) what.push(`cpus ${was.cpus} → ${m.cpus}`);
    if (was.memoryBytes !== m.memoryBytes) what.push(`memory ${size(was.memoryBytes)} → ${size(m.memoryBytes)}`);
    if (was.diskBytes !== m.diskBytes) what.push(`disk ${size(was.diskBytes)} → ${size(m.diskBytes)}`);
    if (what.length > 0) out.push({ kind: 'machine-changed', machine: m.name, appliedBy: 'recreate', text: `${m.name} ${what.join(', ')}` });
  }
  for (const m of before.machines) {
    if (!now.has(m.name)) out.push({ kind: 'machine-removed', machine: m.name, appliedBy: 'none', text: `${m.name} removed` });
  }
  if (before.network.cidr !== after.network.cidr) out.push({ kind: 'network', appliedBy: 'none', text: `network.subnet ${before.network.cidr} → ${after.network.cidr}` });
  if (Boolean(before.network.nat) !== Boolean(after.network.nat)) {
    out.push({ kind: 'network', appliedBy: after.network.nat ? 'create' : 'none', text: `network.nat ${Boolean(before.network.nat)} → ${Boolean(after.network.nat)}` });
  }
  const r0 = before.redis;
  const r1 = after.redis;
  if (r0.version !== r1.version) out.push({ kind: 'redis', appliedBy: 'deploy', text: `redis.version ${r0.version} → ${r1.version}` });
  if (r0.port !== r1.port) out.push({ kind: 'redis', appliedBy: 'deploy', text: `redis.port ${r0.port} → ${r1.port}` });
  if (r0.channel !== r1.channel) out.push({ kind: 'redis', appliedBy: 'deploy', text: `redis.channel ${r0.channel} → ${r1.channel}` });
  if (r0.backplane !== r1.backplane) out.push({ kind: 'redis', appliedBy: 'deploy', text: `redis.backplane ${r0.backplane} → ${r1.backplane}` });
  if (JSON.stringify(r0.source) !== JSON.stringify(r1.source)) out.push({ kind: 'redis', appliedBy: 'deploy', text: 'redis.source changed' });
  if (before.app.port !== after.app.port) out.push({ kind: 'app', appliedBy: 'deploy', text: `app.port ${before.app.port} → ${after.app.port}` });
  if (JSON.stringify(before.app.rateLimit) !== JSON.stringify(after.app.rateLimit)) out.push({ kind: 'app', appliedBy: 'deploy', text: 'app.rateLimit changed' });
  if (out.length === 0 && JSON.stringify(before.raw) !== JSON.stringify(after.raw)) {
    out.push({ kind: 'other', appliedBy: 'create', text: 'other settings changed (labctl plan shows what is left to do)' });
  }
  return out;
}

/**
 * One line (two at most) saying what changed and what the command will do about it; [] when
 * nothing changed.
 */
export function describeChanges(file: string, changes: SpecChange[], command: string): string[] {
  if (changes.length === 0) return [];
  const shown = changes.slice(0, 6).map((c) => c.text);
  if (changes.length > shown.length) shown.push(`and ${changes.length - shown.length} more`);
  const lines = [`${file} changed since the lab was created: ${shown.join('; ')}`];
  const by = (a: SpecChange['appliedBy']) => changes.filter((c) => c.appliedBy === a);
  const names = (list: SpecChange[]) => [...new Set(list.map((c) => c.machine ?? c.text))].join(', ');
  const [create, deploy, recreate, none] = [by('create'), by('deploy'), by('recreate'), by('none')];
  const parts: string[] = [];
  if (command === 'up' || command === 'create') {
    if (create.length > 0) parts.push(`${command} makes ${names(create)}`);
    if (deploy.length > 0) parts.push(command === 'up' ? 'then deploys Redis and the app with the new settings' : 'labctl deploy then applies the Redis and app settings');
  } else if (command === 'deploy') {
    if (deploy.length > 0) parts.push('deploy rebuilds or reconfigures Redis and restarts the app with the new settings');
    if (create.length > 0) parts.push(`${names(create)}: not made yet, labctl up (or create) makes it`);
  } else if (create.length + deploy.length > 0) {
    parts.push(`labctl up applies ${names([...create, ...deploy])}`);
  }
  if (recreate.length > 0) parts.push(`labctl recreate ${[...new Set(recreate.map((c) => c.machine))].join(' / ')} applies ${recreate.map((c) => c.text).join(', ')}`);
  if (none.length > 0) parts.push(`${none.map((c) => c.text).join(', ')}: stays as created until labctl teardown and up`);
  if (parts.length > 0) lines.push(`  ${parts.join('; ')}`);
  return lines;
}
