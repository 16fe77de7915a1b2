/**
 * Shared pieces of the host-side simulator tests: a host reset between tests (one SimHost,
 * and so one set of PowerShell sessions, per test file), waits on the simulated state, and
 * the files labctl hands the host (NoCloud seed ISO, unattend.xml) made with labctl's own
 * code.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSeedIso } from '../../src/providers/hyperv/seed.js';
import { renderUnattend } from '../../src/providers/hyperv/unattend.js';
import type { MachineSpec } from '../../src/spec/types.js';
import { generateSshKeyPair } from '../../src/transports/ssh.js';
import { initialState, type SimHost, type SimState } from './host.js';

/** Small timings: every phase takes a fraction of a second. */
export const FAST = { bootSeconds: 0.2, heartbeatSeconds: 0.2, installSeconds: 0.4, setupSeconds: 0.3, shutdownSeconds: 0.1, msiSeconds: 0.2, mergeSeconds: 0.2, isoLetterSeconds: 0.3, adapterSeconds: 0.2 };

/** Empties the host (state, C: drive, disks) and writes a fresh state: the sessions stay. */
export function resetHost(host: SimHost, patch?: (s: SimState) => void): void {
  for (const dir of ['host/C', 'disks', 'guests']) {
    const full = path.join(host.dir, dir);
    rmSync(full, { recursive: true, force: true });
  }
  mkdirSync(path.join(host.dir, 'host', 'C'), { recursive: true });
  const state = initialState(FAST);
  patch?.(state);
  host.write(state);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls the state (through a template, so the simulator's clock runs) until `pred` holds. */
export async function waitFor<T>(what: string, read: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await read();
    if (pred(last)) return last;
    await sleep(100);
  }
  assert.fail(`${what}: not reached within ${timeoutMs} ms; last seen ${JSON.stringify(last)}`);
}

export function vmOf(state: SimState, name: string): any {
  const vm = (state.vms ?? []).find((v: any) => v.name === name);
  assert.ok(vm, `no VM ${name} in the simulated state`);
  return vm;
}

export function machine(name: string, os: 'ubuntu' | 'windows', ip: string): MachineSpec {
  return { name, index: 0, role: os === 'ubuntu' ? 'redis' : 'web', os, ip, cpus: 2, memoryBytes: 2 * 2 ** 30, diskBytes: 20 * 2 ** 30 } as MachineSpec;
}

/** A folder on this side (labctl's) for files it hands the host: removed by the caller. */
export function localDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'labctl-sim-local-'));
}

export function writeSeed(dir: string, m: MachineSpec, mac: string, opts: { gateway?: string; lab?: string } = {}): string {
  const key = generateSshKeyPair('test');
  const iso = buildSeedIso({
    lab: opts.lab ?? 'sim',
    machine: m,
    mac,
    prefix: 24,
    gateway: opts.gateway ?? m.ip.replace(/\.\d+$/, '.1'),
    dns: ['192.168.50.1'],
    user: 'labctl',
    authorizedKey: key.publicKey,
    hostKey: key,
  });
  const file = path.join(dir, `${m.name}-seed.iso`);
  writeFileSync(file, iso);
  return file;
}

export function writeUnattend(dir: string, m: MachineSpec, mac: string, password: string, transform: (xml: string) => string = (x) => x): string {
  const xml = renderUnattend({ lab: 'sim', machine: m, mac, prefix: 24, gateway: m.ip.replace(/\.\d+$/, '.1'), dns: ['192.168.50.1'], timeZone: 'UTC', adminPassword: password });
  const file = path.join(dir, `${m.name}-unattend.xml`);
  writeFileSync(file, transform(xml));
  return file;
}

/** The files of one partition of a simulated disk (by disk id). */
export function partitionFiles(host: SimHost, diskId: string, n: number): string[] {
  const dir = path.join(host.dir, 'disks', diskId, String(n));
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  try {
    walk(dir, '');
  } catch {
    return [];
  }
  return out.sort();
}

/**
 * A checkpoint of a VM made the way Hyper-V makes one: each of its disks gets a .avhdx
 * beside it (a differencing disk over the disk as it was), the VM runs on the .avhdx, and the
 * checkpoint remembers the disks as they were.
 */
export function addCheckpoint(host: SimHost, vmName: string, name = 'before change'): void {
  host.update((s) => {
    const vm = vmOf(s, vmName);
    const snapshot = { id: randomUUID(), name, created: new Date().toISOString(), hardDisks: vm.hardDisks.map((d: any) => ({ ...d })) };
    for (const d of vm.hardDisks) {
      const parent = readFileSync(host.local(d.path), 'utf8').trim().split(' ')[1];
      const parentDisk = s.disks.find((x: any) => x.id === parent);
      const id = randomUUID();
      const avhdx = d.path.replace(/\.vhdx$/i, `_${id.toUpperCase()}.avhdx`);
      writeFileSync(host.local(avhdx), `LABCTL-SIM-VHDX ${id}\n`);
      s.disks.push({ id, path: avhdx, type: 'Differencing', sizeBytes: parentDisk.sizeBytes, parentId: parent, signature: null, partitionStyle: parentDisk.partitionStyle, partitions: parentDisk.partitions, mounted: null, checkpoint: true });
      d.path = avhdx;
    }
    vm.snapshots = [...(vm.snapshots ?? []), snapshot];
  });
}

/** The simulated disk a .vhdx file on the host is (the file names its disk: a moved file is the same disk). */
export function diskAt(host: SimHost, windowsPath: string): any {
  const id = readFileSync(host.local(windowsPath), 'utf8').trim().split(' ')[1];
  const disk = (host.read().disks ?? []).find((d: any) => d.id === id);
  assert.ok(disk, `no simulated disk for ${windowsPath}`);
  return disk;
}
