import type { MachineSpec } from '../../spec/types.js';
import { OperationError } from '../../util/errors.js';
import { labDns, machinePaths } from './config.js';
import type { HypervEnv } from './env.js';

/** What a guest's first-boot answer file needs to bring its network up: the same for Ubuntu and Windows. */
export interface GuestNetwork {
  lab: string;
  machine: MachineSpec;
  /** 00155DAABBCC */
  mac: string;
  prefix: number;
  gateway: string;
  dns: string[];
}

export function guestNetwork(env: HypervEnv, m: MachineSpec): GuestNetwork {
  const { store, spec } = env.lab;
  const dns = labDns(env.cfg, store);
  if (!dns || dns.length === 0) throw new OperationError('no DNS servers for the lab yet (the hyperv:dns step records them)');
  return { lab: spec.name, machine: m, mac: machinePaths(env.cfg, m).mac, prefix: spec.network.prefix, gateway: spec.network.gateway, dns };
}
