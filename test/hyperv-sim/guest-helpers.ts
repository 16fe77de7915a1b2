/**
 * Helpers for the tests of the simulated Windows guest (behaviours/guest-*.ps1): a Windows VM
 * that has finished setup, put straight into the state (as the host side's first boot leaves
 * it: README.md, vms[].guest), the guest's files, stand-in installer packages, a reboot, and a
 * lab whose web role runs through labctl's own Hyper-V provider against the simulated host.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { guestChannel } from '../../src/providers/hyperv/guest.js';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import { adminPassword } from '../../src/providers/hyperv/steps-windows.js';
import { vmName } from '../../src/providers/hyperv/names.js';
import type { LabContext } from '../../src/providers/provider.js';
import type { GuestChannel } from '../../src/roles/web-windows/index.js';
import { packageCacheDir, type WebPackage } from '../../src/roles/web-windows/packages.js';
import { loadBundle } from '../../src/roles/web-linux/bundle.js';
import { parseSpec } from '../../src/spec/load.js';
import type { MachineSpec } from '../../src/spec/types.js';
import { LabStore } from '../../src/state/store.js';
import type { SimHost, SimState } from './host.js';

export interface ReadyGuest {
  vm: string;
  id: string;
  /** the folder that is the guest's C: drive */
  c: string;
}

/**
 * A running Windows Server VM whose setup has finished: PowerShell Direct answers as
 * `computerName` with the Administrator `password`. Its C: drive is a folder of the simulated
 * host holding Windows\System32, as the system partition of an applied image does.
 */
export function addReadyWindowsGuest(host: SimHost, name: string, password: string, opts: { computerName?: string; ip?: string } = {}): ReadyGuest {
  const id = createHash('sha256').update(`vm:${name}`).digest('hex').replace(/^(.{8})(.{4})(.{3})(.{3})(.{12}).*$/, '$1-$2-4$3-8$4-$5');
  const c = path.join(host.dir, 'disks', `guest-${id}`, '3');
  // a fresh system partition each time (a VM added again under the same name starts clean)
  rmSync(c, { recursive: true, force: true });
  mkdirSync(path.join(c, 'Windows', 'System32'), { recursive: true });
  const since = new Date().toISOString();
  host.update((s) => {
    s.vms = s.vms.filter((v: SimState) => v.name !== name);
    s.vms.push({
      id,
      name,
      notes: '',
      path: `C:\\labctl\\vms\\${name}`,
      generation: 2,
      state: 'Running',
      since,
      memoryStartupBytes: 4 * 2 ** 30,
      dynamicMemory: false,
      processorCount: 2,
      automaticCheckpointsEnabled: false,
      firmware: { secureBoot: 'On', template: 'MicrosoftWindows', bootOrder: [] },
      hardDisks: [],
      dvds: [],
      adapters: [],
      comPorts: {},
      snapshots: [],
      guest: {
        os: 'windows',
        phase: 'ready',
        problem: null,
        computerName: opts.computerName ?? name.replace(/^labctl-[^-]+-/, '').toUpperCase(),
        adminPassword: password,
        ipv4: opts.ip ? [opts.ip] : [],
        drives: { C: c },
      },
    });
  });
  return { vm: name, id, c };
}

/** A Windows path of a guest's C: drive as a file here. */
export function guestPath(g: ReadyGuest, windowsPath: string): string {
  const m = /^[Cc]:[\\/]?(.*)$/.exec(windowsPath);
  if (!m) throw new Error(`not a path on C: ${windowsPath}`);
  return path.join(g.c, ...m[1]!.split(/[\\/]+/).filter(Boolean));
}

export function vmOf(host: SimHost, name: string): SimState {
  const vm = host.read().vms.find((v: SimState) => v.name === name);
  if (!vm) throw new Error(`no VM ${name} in the simulated host`);
  return vm;
}

/** The Windows state of a guest (features, services, registry, firewall, msi, iis, acl). */
export function guestState(host: SimHost, name: string): SimState {
  return vmOf(host, name).guest;
}

/** Restarts a guest now (as Restart-Computer does once its bootSeconds are over). */
export function rebootGuest(host: SimHost, name: string): void {
  host.update((s) => {
    const vm = s.vms.find((v: SimState) => v.name === name);
    if (!vm?.guest?.initialized) throw new Error(`${name} has no initialised Windows guest to restart`);
    vm.guest.boot.rebootAt = new Date(Date.now() - 1000).toISOString();
  });
}

/** The first line of a simulated installer package (behaviours/guest-msi.ps1). */
export function simMsi(product: WebPackage['id'], extra: Record<string, unknown> = {}): string {
  return `LABCTL-SIM-MSI ${product} ${JSON.stringify(extra)}\n`;
}

export const LAB_SPEC = (publish: 'webdeploy' | 'copy' = 'webdeploy') => `
name: simweb
network: { subnet: 198.18.44.0/24 }
redis: { version: 7.0.15 }
machines:
  redis: { role: redis, os: ubuntu, ip: 198.18.44.10, cpus: 2, memory: 2GB, disk: 20GB }
  web1:  { role: web, os: windows, ip: 198.18.44.11, cpus: 2, memory: 4GB, disk: 40GB }
  web2:  { role: web, os: windows, ip: 198.18.44.12, cpus: 2, memory: 4GB, disk: 40GB }
hyperv:
  ubuntuIso: C:\\iso\\ubuntu-24.04-live-server-amd64.iso
  windowsIso: C:\\iso\\windows-server-2022.iso
  vmPath: C:\\labctl\\vms
  publish: ${publish}
`;

/** Web Deploy on the simulated host: its msdeploy.exe where Web Deploy 3 installs it (behaviours/msdeploy.ps1 stands in for it). */
export const MSDEPLOY = 'C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy.exe';
export function putMsdeploy(host: SimHost): void {
  host.putFile(MSDEPLOY, 'LABCTL-SIM msdeploy.exe (Web Deploy 3.6 command line)\n');
}

/**
 * The host's side of a lab switch, without building the switch: a vEthernet adapter with the
 * gateway address, so the host reaches the lab subnet (as after labctl create's network steps).
 */
export function addHostLabAdapter(host: SimHost, gateway: string, prefix = 24): void {
  host.update((s) => {
    if (s.host.adapters.some((a: SimState) => (a.ips ?? []).some((x: SimState) => x.ip === gateway))) return;
    const ifIndex = s.host.nextIfIndex++;
    s.host.adapters.push({ ifIndex, name: 'vEthernet (labctl-test)', description: 'Hyper-V Virtual Ethernet Adapter', mac: '00-15-5D-00-09-09', status: 'Up', kind: 'vnic', switchName: 'labctl-test', dhcp: false, ips: [{ ip: gateway, prefix }] });
  });
}

export interface SimLab {
  dir: string;
  lab: LabContext;
  provider: HypervProvider;
  /** the installers of the web role, as small local stand-ins with their sha256 (no download) */
  packages: WebPackage[];
  /** a web machine's VM, ready, with the lab's generated Administrator password */
  addGuest(machine: string): ReadyGuest;
  machine(name: string): MachineSpec;
  /** the VM name labctl gives a machine */
  vm(machine: string): string;
  /** how the web role reaches a machine: guest-run.ps1 through PowerShell Direct (labctl's own GuestChannel) */
  guest(machine: string): GuestChannel;
  cleanup(): void;
}

/**
 * A lab (temporary LABCTL home with the spec and its store) whose Hyper-V provider runs on the
 * simulated host through labctl's own runner; the web role's installers are local stand-ins
 * in the lab's package cache, pinned by sha256, so nothing is downloaded.
 */
export function simLab(
  host: SimHost,
  opts: { health?: (m: MachineSpec) => Promise<string | undefined>; appDir?: string; publish?: 'webdeploy' | 'copy' } = {},
): SimLab {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-simweb-'));
  const specFile = path.join(dir, 'lab.yaml');
  const text = LAB_SPEC(opts.publish ?? 'webdeploy');
  writeFileSync(specFile, text);
  const spec = parseSpec(text, specFile);
  const home = path.join(dir, 'home');
  const store = new LabStore(home, spec.name);
  store.open('test');
  store.init('hyperv', { file: spec.file, hash: spec.hash });
  const lab: LabContext = { spec, store, home };
  const machine = (name: string): MachineSpec => {
    const m = spec.machines.find((x) => x.name === name);
    if (!m) throw new Error(`no machine ${name} in the spec`);
    return m;
  };
  const packages = stagePackages(home);
  const appDir = opts.appDir ?? stageApp(dir);
  const provider = new HypervProvider({
    runner: host.runner(),
    // the simulated phases take a fraction of a second: look again often
    pollMs: { install: 200, boot: 200, ready: 200 },
    webPackages: packages,
    appBundle: () => loadBundle(appDir),
    // the app does not run in the simulator: "healthy" once the guest's IIS has the chat site started
    webHealth: opts.health ?? (async (m) => sitePublished(host, vmName(spec.name, m.name))),
  });
  return {
    dir,
    lab,
    provider,
    packages,
    addGuest: (machine) => addReadyWindowsGuest(host, vmName(spec.name, machine), adminPassword(store, machine), { ip: spec.machines.find((m) => m.name === machine)?.ip }),
    machine,
    vm: (name) => vmName(spec.name, name),
    guest: (name) => guestChannel(provider.env(lab), machine(name)),
    cleanup: () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The role's health check stub: undefined once the chat site is started in the guest's IIS, else why not. */
export async function sitePublished(host: SimHost, vm: string): Promise<string | undefined> {
  const g = host.read().vms.find((v: SimState) => v.name === vm)?.guest;
  const site = g?.iis?.sites?.find((x: SimState) => x.name === 'labctl-chat');
  return site?.state === 'Started' ? undefined : `GET /healthz: ECONNREFUSED (the simulated IIS has ${site ? `labctl-chat ${site.state}` : 'no labctl-chat site'})`;
}

/** Stand-in installers in the package cache of `home`, each pinned by its sha256, as WEB_PACKAGES names them. */
export function stagePackages(home: string, extra: Partial<Record<WebPackage['id'], Record<string, unknown>>> = {}): WebPackage[] {
  const cache = packageCacheDir(home);
  mkdirSync(cache, { recursive: true });
  const make = (id: WebPackage['id'], file: string, check: string, properties: string[]): WebPackage => {
    const content = simMsi(id, extra[id] ?? {});
    writeFileSync(path.join(cache, file), content);
    const sha256 = createHash('sha256').update(content).digest('hex');
    return { id, title: `${id} (simulated package)`, url: `https://example.invalid/${file}`, sha256, file, check, properties };
  };
  return [
    make('webdeploy', 'WebDeploy_amd64_en-US.msi', 'C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy.exe', ['ADDLOCAL=ALL']),
    make('rewrite', 'rewrite_amd64_en-US.msi', 'C:\\Windows\\System32\\inetsrv\\rewrite.dll', []),
    make('node', 'node-v22.12.0-x64.msi', 'C:\\Program Files\\nodejs\\node.exe', []),
    make('iisnode', 'iisnode-full-v0.2.26-x64.msi', 'C:\\Program Files\\iisnode\\iisnode.dll', []),
  ];
}

/** A tiny app bundle (server.cjs + page): the app does not run in the simulator. */
export function stageApp(dir: string): string {
  const appDir = path.join(dir, 'app');
  mkdirSync(path.join(appDir, 'public'), { recursive: true });
  writeFileSync(path.join(appDir, 'server.cjs'), 'module.exports = {};\n');
  writeFileSync(path.join(appDir, 'public', 'index.html'), '<!doctype html><title>chat</title>\n');
  return appDir;
}

export function readGuestFile(g: ReadyGuest, windowsPath: string): string {
  return readFileSync(guestPath(g, windowsPath), 'utf8');
}

/**
 * Runs PowerShell text on the simulated host in a new session (pwsh-sim) and parses the JSON
 * it prints last: for tests of the simulator's cmdlets themselves, outside labctl's templates.
 */
export async function hostScript<T = any>(host: SimHost, script: string, timeoutMs = 60_000): Promise<T> {
  const { execFile } = await import('node:child_process');
  const { PWSH_SIM } = await import('./host.js');
  const file = path.join(host.dir, `test-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}.ps1`);
  writeFileSync(file, `$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\n$__r = & {\n${script}\n}\nConvertTo-Json -InputObject $__r -Depth 8 -Compress\n`);
  try {
    return await new Promise((resolve, reject) => {
      execFile(PWSH_SIM, ['-NoProfile', '-NonInteractive', '-File', file], { env: { ...process.env, ...host.env() }, timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`pwsh-sim failed: ${err.message}\n${stdout}\n${stderr}`));
        const last = stdout.trim().split(/\r?\n/).pop() ?? '';
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`pwsh-sim printed no JSON:\n${stdout}\n${stderr}`));
        }
      });
    });
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * A guest script's result without what remoting adds to every object it brings back
 * (PSComputerName, RunspaceId, PSShowComputerName: ConvertTo-Json writes them too).
 */
export function plain<T>(value: T): T {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const { PSComputerName: _a, RunspaceId: _b, PSShowComputerName: _c, ...rest } = value as Record<string, unknown>;
    return rest as T;
  }
  return value;
}
