import type { Subnet } from './ipv4.js';
import type { HypervSpec, ParsedSpec } from './schema.js';

export type ProviderName = 'netns' | 'hyperv';
export type Role = 'redis' | 'web';
export type GuestOs = 'ubuntu' | 'windows';
/** pubsub: @socket.io/redis-adapter (at most once); streams: @socket.io/redis-streams-adapter */
export type Backplane = 'pubsub' | 'streams';

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
  redis: { version: string; port: number; channel: string; backplane: Backplane; source: RedisSource };
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

export function webMachines(spec: LabSpec): MachineSpec[] {
  return spec.machines.filter((x) => x.role === 'web');
}
