import { createHash } from 'node:crypto';
import type { MachineSpec } from '../../spec/types.js';

/**
 * Interface names are limited to 15 characters, so links are named from a short hash
 * of the lab name; namespaces (files under /run/netns) can carry the full names.
 */
export function labHash(lab: string): string {
  return createHash('sha256').update(lab).digest('hex').slice(0, 6);
}

export function bridgeName(lab: string): string {
  return `lcb${labHash(lab)}`;
}

export function vethName(lab: string, machine: MachineSpec): string {
  return `lcv${labHash(lab)}-${machine.index}`;
}

/** the peer's name between its creation and its move into the namespace */
export function peerTempName(lab: string, machine: MachineSpec): string {
  return `lcp${labHash(lab)}-${machine.index}`;
}

export function namespaceName(lab: string, machine: string): string {
  return `labctl-${lab}-${machine}`;
}

export function natTableName(lab: string): string {
  return `labctl_${labHash(lab)}`;
}

/** The interface a machine sees inside its namespace. */
export const GUEST_IFACE = 'eth0';
