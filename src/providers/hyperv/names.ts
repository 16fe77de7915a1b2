import { createHash } from 'node:crypto';
import type { MachineSpec } from '../../spec/types.js';

/** Everything the provider names on the host derives from the lab and machine names, so a re-run finds it again. */

export function vmName(lab: string, machine: string): string {
  return `labctl-${lab}-${machine}`;
}

export function defaultSwitchName(lab: string): string {
  return `labctl-${lab}`;
}

export function natName(lab: string): string {
  return `labctl-${lab}`;
}

/**
 * The mark in a VM's or switch's Notes that says labctl made it for this lab. Teardown and
 * preflight compare it before touching anything with a matching name.
 */
export function ownerTag(lab: string, machine?: string): string {
  return machine ? `labctl:${lab}:${machine}` : `labctl:${lab}`;
}

export function vmNotes(lab: string, machine: MachineSpec): string {
  return `${ownerTag(lab, machine.name)}\nCreated by labctl for lab ${lab} (${machine.role}, ${machine.os}, ${machine.ip}). labctl teardown removes it.`;
}

export function switchNotes(lab: string): string {
  return `${ownerTag(lab)}\nCreated by labctl for lab ${lab}. labctl teardown removes it.`;
}

/**
 * A fixed MAC per machine: Microsoft's Hyper-V prefix 00:15:5D, then three bytes of a hash
 * of lab and machine. The guest's static address is matched to it (netplan, unattend.xml),
 * so it must not change between runs.
 */
export function macAddress(lab: string, machine: string): string {
  const h = createHash('sha256').update(`${lab}/${machine}`).digest();
  return `00155D${h.subarray(0, 3).toString('hex').toUpperCase()}`;
}

/** 00155DAABBCC -> 00:15:5d:aa:bb:cc (netplan) */
export function macColons(mac: string): string {
  return mac.toLowerCase().match(/../g)!.join(':');
}

/** 00155DAABBCC -> 00-15-5D-AA-BB-CC (Windows: unattend.xml, Get-NetNeighbor) */
export function macDashes(mac: string): string {
  return mac.toUpperCase().match(/../g)!.join('-');
}

/** The named pipe Hyper-V connects the VM's COM1 to; labctl reads the serial console from it. */
export function comPipe(lab: string, machine: string): string {
  return `\\\\.\\pipe\\labctl-${lab}-${machine}-com1`;
}

/** Windows path helpers: the host is Windows even when plan runs elsewhere. */
export function winJoin(...parts: string[]): string {
  return parts
    .map((p, i) => (i === 0 ? p.replace(/[\\/]+$/, '') : p.replace(/^[\\/]+|[\\/]+$/g, '')))
    .filter((p) => p.length > 0)
    .join('\\');
}

/** True when `child` is `parent` or inside it (case-insensitive, as NTFS). */
export function winInside(parent: string, child: string): boolean {
  const norm = (p: string) => p.replace(/\//g, '\\').replace(/\\+$/, '').toLowerCase();
  const a = norm(parent);
  const b = norm(child);
  return b === a || b.startsWith(`${a}\\`);
}

export function shortHash(text: string, length = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}
