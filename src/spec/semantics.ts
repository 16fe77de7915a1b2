import { contains, formatIPv4, parseCidr, parseIPv4 } from './ipv4.js';
import { HOSTNAME } from './schema.js';
import type { LabSpec } from './types.js';
import { PINNED_REDIS_RELEASES } from './redis-releases.js';

export interface Problem {
  field: string;
  message: string;
}

/** Checks that need more than one field at a time. Fills in spec.network when the subnet is valid. */
export function checkSemantics(spec: LabSpec): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });

  const { subnet, error } = parseCidr(spec.network.cidr);
  if (!subnet) add('network.subnet', error!);
  else {
    spec.network.subnet = subnet;
    spec.network.prefix = subnet.prefix;
    spec.network.gateway = formatIPv4(subnet.gateway);
  }

  if (spec.machines.length === 0) add('machines', 'no machines: the lab needs one machine with role redis and at least one with role web');
  const redis = spec.machines.filter((m) => m.role === 'redis');
  if (spec.machines.length > 0 && redis.length === 0) add('machines', 'no machine has role redis: the lab needs exactly one');
  if (redis.length > 1) {
    add(
      `machines.${redis[1]!.name}.role`,
      `a second machine with role redis (${redis.map((m) => m.name).join(', ')}): exactly one is supported, the backplane does not support Redis Cluster`,
    );
  }
  if (spec.machines.length > 0 && !spec.machines.some((m) => m.role === 'web')) {
    add('machines', 'no machine has role web: the lab needs at least one web machine');
  }

  // the load balancer: one HAProxy in front of the web machines, on Ubuntu like the redis machine
  const lbs = spec.machines.filter((m) => m.role === 'lb');
  if (lbs.length > 1) {
    add(`machines.${lbs[1]!.name}.role`, `a second machine with role lb (${lbs.map((m) => m.name).join(', ')}): at most one load balancer is supported`);
  }
  if (lbs.length > 0 && !spec.machines.some((m) => m.role === 'web')) {
    add(`machines.${lbs[0]!.name}.role`, 'a load balancer needs web machines to balance over: add at least one machine with role web');
  }
  for (const lb of lbs) {
    if (lb.os !== 'ubuntu') add(`machines.${lb.name}.os`, 'the lb machine must run ubuntu (HAProxy from the distribution\'s packages)');
  }

  const seenNames = new Map<string, string>();
  const seenIps = new Map<string, string>();
  for (const m of spec.machines) {
    const at = `machines.${m.name}`;
    if (!HOSTNAME.test(m.name)) {
      add(at, `"${m.name}" is not a valid machine name: use 1-15 lowercase letters, digits or "-", not starting or ending with "-"`);
    } else if (/^\d+$/.test(m.name)) {
      add(at, `"${m.name}" is not a valid machine name: a host name cannot be all digits`);
    }
    const lower = m.name.toLowerCase();
    if (seenNames.has(lower)) add(at, `duplicate machine name: same as ${seenNames.get(lower)}`);
    seenNames.set(lower, m.name);

    if (m.role === 'redis' && m.os !== 'ubuntu') add(`${at}.os`, 'the redis machine must run ubuntu (Redis is built from source on Linux)');

    const ip = parseIPv4(m.ip);
    if (ip === undefined) {
      add(`${at}.ip`, `"${m.ip}" is not an IPv4 address`);
      continue;
    }
    if (seenIps.has(m.ip)) add(`${at}.ip`, `${m.ip} is already the address of ${seenIps.get(m.ip)}`);
    seenIps.set(m.ip, m.name);
    if (!subnet) continue;
    if (!contains(subnet, ip)) add(`${at}.ip`, `${m.ip} is outside the subnet ${subnet.cidr}`);
    else if (ip === subnet.network) add(`${at}.ip`, `${m.ip} is the network address of ${subnet.cidr}`);
    else if (ip === subnet.gateway) add(`${at}.ip`, `${m.ip} is the gateway (the host's address on the lab network)`);
    else if (ip === subnet.broadcast) add(`${at}.ip`, `${m.ip} is the broadcast address of ${subnet.cidr}`);
  }

  if (spec.redis.port === 22) add('redis.port', 'port 22 is taken by SSH on the redis machine');
  if (spec.app.port === 22) add('app.port', 'port 22 is taken by SSH on the web machines');
  if (spec.app.rateLimit.burst < spec.app.rateLimit.perSecond) {
    add('app.rateLimit.burst', `must be at least perSecond (${spec.app.rateLimit.perSecond})`);
  }

  if (spec.redis.source.kind === 'url' && spec.redis.source.pinned && !PINNED_REDIS_RELEASES[spec.redis.version]) {
    add(
      'redis.source',
      `no pinned sha256 for Redis ${spec.redis.version} (pinned: ${Object.keys(PINNED_REDIS_RELEASES).join(', ')}): give source: {url: ..., sha256: ...}`,
    );
  }
  return problems;
}
