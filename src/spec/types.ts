import type { Subnet } from './ipv4.js';
import type { HypervSpec, ParsedSpec } from './schema.js';

export type ProviderName = 'netns' | 'hyperv';
/** lb: HAProxy in front of the web machines, the lab's address for browsers */
export type Role = 'redis' | 'web' | 'lb';
export type GuestOs = 'ubuntu' | 'windows';
/** pubsub: @socket.io/redis-adapter (at most once); streams: @socket.io/redis-streams-adapter */
export type Backplane = 'pubsub' | 'streams';

/** single: one Redis; cluster: a Redis Cluster (sharded pub/sub between the chat servers) */
export type RedisTopology = 'single' | 'cluster';

/** A cluster node's bus (gossip, failover votes) listens on the client port + this. */
export const CLUSTER_BUS_OFFSET = 10000;

export interface MachineSpec {
  name: string;
  /** position in the spec, stable: used for interface names and MAC addresses */
  index: number;
  role: Role;
  os: GuestOs;
  ip: string;
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
}

export type RedisSource =
  | { kind: 'auto' }
  | { kind: 'distro' }
  | { kind: 'url'; url: string; sha256: string; pinned: boolean }
  | { kind: 'tarball'; path: string; sha256?: string };

export interface LabSpec {
  /** absolute path of the spec file */
  file: string;
  /** sha256 of the spec file's bytes */
  hash: string;
  name: string;
  provider?: ProviderName;
  network: { subnet: Subnet; cidr: string; prefix: number; gateway: string; nat?: boolean };
  redis: {
    version: string;
    port: number;
    channel: string;
    backplane: Backplane;
    source: RedisSource;
    topology: RedisTopology;
    /** cluster: how many of the redis machines are masters (the first ones); single: 3, unused */
    masters: number;
    /** cluster: 0 or 1; single: 0 */
    replicasPerMaster: number;
  };
  app: { port: number; rateLimit: { perSecond: number; burst: number } };
  machines: MachineSpec[];
  hyperv?: HypervSpec;
  raw: ParsedSpec;
}

export function redisMachine(spec: LabSpec): MachineSpec {
  const m = spec.machines.find((x) => x.role === 'redis');
  if (!m) throw new Error('spec has no redis machine (validation should have caught this)');
  return m;
}

/** Every redis machine, in spec order: one with topology single; with cluster the masters come first. */
export function redisMachines(spec: LabSpec): MachineSpec[] {
  return spec.machines.filter((x) => x.role === 'redis');
}

/** cluster: the redis machines created as masters (the first `masters` in spec order). */
export function clusterMasters(spec: LabSpec): MachineSpec[] {
  return redisMachines(spec).slice(0, spec.redis.masters);
}

export function webMachines(spec: LabSpec): MachineSpec[] {
  return spec.machines.filter((x) => x.role === 'web');
}

/** The load balancer in front of the web machines, when the spec has one (at most one). */
export function lbMachine(spec: LabSpec): MachineSpec | undefined {
  return spec.machines.find((x) => x.role === 'lb');
}

/** The port the load balancer listens on (HTTP, the browsers' default). */
export const LB_PORT = 80;

/** Where a browser opens the lab: the load balancer when there is one, else each web machine. */
export function browserUrls(spec: LabSpec): { name: string; url: string }[] {
  const url = (ip: string, port: number) => `http://${ip}${port === 80 ? '' : `:${port}`}/`;
  const lb = lbMachine(spec);
  return lb ? [{ name: lb.name, url: url(lb.ip, LB_PORT) }] : webMachines(spec).map((m) => ({ name: m.name, url: url(m.ip, spec.app.port) }));
}
