import { contains, formatIPv4, parseCidr, parseIPv4 } from './ipv4.js';
import { HOSTNAME } from './schema.js';
import { CLUSTER_BUS_OFFSET, type LabSpec } from './types.js';
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
  if (spec.redis.topology === 'cluster') problems.push(...checkCluster(spec));
  else {
    if (spec.machines.length > 0 && redis.length === 0) add('machines', 'no machine has role redis: the lab needs exactly one');
    if (redis.length > 1) {
      add(
        `machines.${redis[1]!.name}.role`,
        `a second machine with role redis (${redis.map((m) => m.name).join(', ')}): exactly one is supported with redis.topology single (for a Redis Cluster set redis.topology: cluster)`,
      );
    }
    for (const field of ['masters', 'replicasPerMaster'] as const) {
      if (spec.raw.redis[field] !== undefined) add(`redis.${field}`, 'only allowed with redis.topology: cluster');
    }
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

/**
 * A Redis Cluster backplane: the machine count follows masters and replicasPerMaster, the chat
 * servers need sharded pub/sub (Redis 7), and the cluster bus needs its port too.
 */
function checkCluster(spec: LabSpec): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const { masters, replicasPerMaster, port, version, backplane } = spec.redis;
  if (backplane === 'streams') {
    add('redis.topology', 'cluster cannot be used with redis.backplane: streams (the cluster backplane is the sharded pub/sub adapter; use backplane pubsub)');
  }
  const major = Number(version.split('.')[0]);
  if (major < 7) add('redis.version', `${version} has no sharded pub/sub (SSUBSCRIBE): redis.topology cluster needs Redis 7.0 or later`);
  if (port + CLUSTER_BUS_OFFSET > 65535) add('redis.port', `with redis.topology cluster the cluster bus listens on port + ${CLUSTER_BUS_OFFSET}: use a port up to ${65535 - CLUSTER_BUS_OFFSET}`);
  const redis = spec.machines.filter((m) => m.role === 'redis');
  const want = masters * (1 + replicasPerMaster);
  if (spec.machines.length > 0 && redis.length !== want) {
    const shape = replicasPerMaster > 0 ? `${masters} masters x (1 + ${replicasPerMaster} replica)` : `${masters} masters, no replicas`;
    add('machines', `redis.topology cluster with ${shape} needs exactly ${want} machines with role redis, the spec has ${redis.length}${redis.length ? ` (${redis.map((m) => m.name).join(', ')})` : ''}`);
  }
  return problems;
}
