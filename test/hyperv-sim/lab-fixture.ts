/**
 * What the CLI tests of the simulated Hyper-V host share: the spec text of a lab on it, the
 * host's shape as labctl must leave it, and one lab setup (a SimHost with the ISOs, the bridge
 * that turns booted VMs into namespaces, a folder for the spec and the lab's home) whose dispose
 * runs labctl's own teardown first, then stops the bridge and checks it left nothing, even when
 * a test failed half-way.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeResult, labctl, type CliResult } from '../helpers/cli.js';
import { SimNetworkBridge } from './bridge.js';
import { FAST } from './fixtures.js';
import { SimHost, type SimState } from './host.js';

export const UBUNTU_ISO = 'C:\\labctl\\iso\\ubuntu-24.04.3-live-server-amd64.iso';
export const WINDOWS_ISO = 'C:\\labctl\\iso\\windows-server-2022.iso';
export const SIM_TIMEOUTS = '{ install: 60s, boot: 30s, ready: 30s, poll: 300ms }';

export interface SpecOptions {
  name: string;
  /** the lab's /24, e.g. "198.18.64" (the gateway and DNS server are .1) */
  net: string;
  /** machine lines after "machines:", e.g. "redis: { role: redis, os: ubuntu, ip: ..., ... }" */
  machines: string[];
  timeouts?: string;
  /** more lines of the hyperv: block (two-space indented by the caller) */
  hyperv?: string[];
  windows?: boolean;
}

/** A lab on the simulated host: the ISOs the host has, the lab's own subnet as its DNS. */
export function simSpecText(o: SpecOptions): string {
  return `name: ${o.name}
network: { subnet: ${o.net}.0/24 }
redis: { version: 7.0.15 }
machines:
${o.machines.map((l) => `  ${l}`).join('\n')}
hyperv:
  ubuntuIso: ${UBUNTU_ISO}
${o.windows === false ? '' : `  windowsIso: ${WINDOWS_ISO}\n`}  vmPath: C:\\labctl\\vms
  dns: [${o.net}.1]
  timeouts: ${o.timeouts ?? SIM_TIMEOUTS}
${(o.hyperv ?? []).join('\n')}
`;
}

/** A machine line of the spec (2 GB for Ubuntu, 4 GB for Windows, as the seed lab has). */
export function machineLine(name: string, role: string, os: 'ubuntu' | 'windows', ip: string): string {
  return `${name}: { role: ${role}, os: ${os}, ip: ${ip}, cpus: 2, memory: ${os === 'ubuntu' ? '2GB' : '4GB'}, disk: ${os === 'ubuntu' ? '20GB' : '40GB'} }`;
}

/** The host as labctl found it, without what changes by itself (clocks, counters). */
export function hostShape(s: SimState): Record<string, unknown> {
  return {
    vms: (s.vms ?? []).map((v: any) => v.name).sort(),
    switches: (s.switches ?? []).map((x: any) => x.name).sort(),
    nats: (s.nats ?? []).map((n: any) => `${n.name} ${n.prefix}`).sort(),
    adapters: (s.host.adapters ?? []).map((a: any) => `${a.name} ${(a.ips ?? []).map((i: any) => `${i.ip}/${i.prefix}`).join(',')}`).sort(),
    drives: Object.keys(s.host.drives ?? {}).sort(),
    mounted: (s.disks ?? []).filter((d: any) => d.mounted).map((d: any) => d.path),
    images: (s.images ?? []).map((i: any) => i.path),
  };
}

export interface SimLabOptions {
  lab: string;
  spec: string;
  timing?: Record<string, number>;
  /** folder name prefix under the temp folder */
  prefix?: string;
}

export interface SimLab {
  host: SimHost;
  bridge: SimNetworkBridge;
  dir: string;
  spec: string;
  home: string;
  /** the host's shape before the lab */
  pristine: Record<string, unknown>;
  run(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** run, and fail the test with labctl's output unless it exits 0 */
  ok(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** the VM of a machine of this lab in the host's state */
  vm(machine: string, state?: SimState): any;
  dispose(): Promise<void>;
}

/** Needs root (the bridge makes namespaces). Dispose in after(): it cleans up after a failed test too. */
export function startSimLab(o: SimLabOptions): SimLab {
  if (process.getuid?.() !== 0) throw new Error('the simulated Hyper-V lab tests must run as root: the bridge makes network namespaces');
  // LABCTL_SIM_KEEP=1 keeps the simulated host's folder (state.json, disks, trace.log) to look at after a failure
  const host = new SimHost({ timing: o.timing ?? FAST, keep: process.env.LABCTL_SIM_KEEP === '1' });
  if (process.env.LABCTL_SIM_KEEP === '1') console.log(`simulated host kept in ${host.dir}`);
  host.putUbuntuIso(UBUNTU_ISO);
  host.putWindowsIso(WINDOWS_ISO);
  const pristine = hostShape(host.read());
  const bridge = new SimNetworkBridge(host, { intervalMs: 100 });
  bridge.start();
  const dir = mkdtempSync(path.join(os.tmpdir(), o.prefix ?? 'labctl-hvsim-'));
  const spec = path.join(dir, 'lab.yaml');
  const home = path.join(dir, 'home');
  writeFileSync(spec, o.spec);
  const run = (args: string[], timeoutMs = 240_000) => labctl(['--spec', spec, '--home', home, '--provider', 'hyperv', ...args], { env: host.env(), timeoutMs });
  return {
    host,
    bridge,
    dir,
    spec,
    home,
    pristine,
    run,
    async ok(args, timeoutMs) {
      const r = await run(args, timeoutMs);
      assert.equal(r.code, 0, `${describeResult(r)}\nbridge: ${bridge.problems.join('; ') || 'no problem'}`);
      return r;
    },
    vm(machine, state = host.read()) {
      // the lab the spec file names now (a test may write another lab's spec into it)
      const name = /^name:\s*(\S+)/m.exec(readFileSync(spec, 'utf8'))?.[1] ?? o.lab;
      return (state.vms ?? []).find((v: any) => v.name === `labctl-${name}-${machine}`);
    },
    async dispose() {
      // labctl's own teardown first, then the bridge (it kills what runs in the namespaces);
      // labctl() rejects on a stale dist/: the bridge must still stop, or its poll loop keeps
      // the test process alive
      await run(['teardown', '--yes']).catch(() => undefined);
      await bridge.stop();
      const left = await bridge.leftovers();
      await host.dispose();
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(left, [], 'the bridge removed every namespace and link');
    },
  };
}
