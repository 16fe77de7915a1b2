/**
 * A recording fake of the Windows host for the hyperv provider's tests.
 *
 * FakeHyperV plays the part of PowerShell behind the real FramedRunner: it receives the
 * exact line the real runner would write to powershell.exe, decodes it the way
 * templates/hyperv/_invoke.ps1 does (base64 JSON, named parameters), records the call,
 * answers from a small in-memory model of Hyper-V (switches, NATs, VMs, files), and frames
 * the answer as the wrapper does, with noise around it. So the encoding path is exercised
 * end to end; only PowerShell and Hyper-V themselves are imagined.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSpec } from '../../src/spec/load.js';
import { LabStore } from '../../src/state/store.js';
import {
  FramedRunner,
  WRAPPER,
  decodeInvocation,
  frameAnswer,
  scriptFile,
  type LineChannel,
  type PowerShellRunner,
  type ScriptRequest,
} from '../../src/transports/powershell.js';
import type { ConsoleTapFactory } from '../../src/providers/hyperv/console.js';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import type { Clock } from '../../src/providers/hyperv/wait.js';
import type { LabContext } from '../../src/providers/provider.js';
import { hostKeyFact } from '../../src/providers/lab-keys.js';

export interface Call {
  script: string;
  params: Record<string, unknown>;
}

export interface FakeGuest {
  features: Set<string>;
  wmsvc: { status: string; startType: string };
  remote: boolean;
  firewall: boolean;
  /** guest path -> where it came from on the host (or 'installed') */
  files: Map<string, string>;
  site: { state: string; physicalPath: string; bindings: string } | null;
  passwordFile: string | undefined;
  webConfig?: string;
}

interface FakeVm {
  name: string;
  id: string;
  notes: string;
  state: 'Off' | 'Running' | 'Saved' | 'Paused';
  heartbeat: string;
  generation: number;
  path: string;
  memoryBytes: number;
  cpus: number;
  mac: string;
  switch: string;
  com1: string;
  disks: string[];
  dvds: string[];
  secureBoot: string;
  template: string;
  firstBoot: string | null;
  /** get-vm polls since the last start */
  ticks: number;
  bootedFrom: 'installer' | 'disk' | null;
  /** the boot entry an installed OS registers in the VM's firmware, ahead of the disk */
  loaderEntry: string | null;
  checkpoints: number;
}

const lower = (s: string) => s.toLowerCase();
const inside = (parent: string, child: string) => {
  const p = lower(parent).replace(/\\+$/, '');
  const c = lower(child);
  return c === p || c.startsWith(p + '\\');
};

export class FakeHyperV {
  calls: Call[] = [];
  lines: string[] = [];
  switches = new Map<string, { notes: string; type: string }>();
  hostIps = new Map<string, string[]>();
  nats = new Map<string, string>();
  vms = new Map<string, FakeVm>();
  files = new Map<string, { bytes?: Buffer; note?: string }>();
  dirs = new Set<string>();
  /** local files the provider handed over (seed ISO bytes, unattend text), by host path */
  received = new Map<string, Buffer>();
  hostDns = ['192.0.2.53'];
  elevated = true;
  freeMemoryBytes = 64 * 2 ** 30;
  /** how many get-vm polls the installer runs before it powers the VM off (Infinity: never) */
  installTicks = 3;
  bootTicks = 2;
  psDirectTicks = 2;
  /** fail the next call of a script (by file name) with this message, once each */
  failNext = new Map<string, string>();
  private nextId = 1;

  /** the channel the real FramedRunner writes to */
  channel(): LineChannel {
    return {
      send: async (line) => {
        this.lines.push(line);
        const { wrapperPath, request } = decodeInvocation(line);
        if (wrapperPath !== scriptFile(WRAPPER)) throw new Error(`unexpected wrapper ${wrapperPath}`);
        if (!existsSync(wrapperPath)) throw new Error(`wrapper ${wrapperPath} does not exist`);
        if (!existsSync(request.script)) throw new Error(`script ${request.script} does not exist`);
        const answer = this.answer(request);
        // what a real session prints around the answer: a warning and progress noise
        return { stdout: `WARNING: noise before\r\n${frameAnswer(answer)}\r\nPS> `, stderr: '' };
      },
      reset: async () => {},
    };
  }

  runner(): PowerShellRunner {
    return new FramedRunner(this.channel());
  }

  scripts(): string[] {
    return this.calls.map((c) => c.script);
  }

  /** calls that change the host (everything but the read-only scripts) */
  changes(): Call[] {
    return this.calls.filter((c) => !/^(get-|test-|preflight|probe-|leftovers|find-route)/.test(c.script));
  }

  private answer(request: ScriptRequest) {
    const script = path.basename(request.script);
    const params = request.params;
    this.calls.push({ script, params });
    const fail = this.failNext.get(script);
    if (fail) {
      this.failNext.delete(script);
      return { id: request.id, ok: false, result: null, logs: ['warning: injected'], error: { message: fail, position: `At ${script}:1 char:1` } };
    }
    try {
      return { id: request.id, ok: true, result: this.run(script, params), logs: [], error: null };
    } catch (err) {
      return { id: request.id, ok: false, result: null, logs: [], error: { message: (err as Error).message } };
    }
  }

  private vm(name: unknown): FakeVm {
    const vm = this.vms.get(String(name));
    if (!vm) throw new Error(`no VM named '${String(name)}'`);
    return vm;
  }

  private fileExists(p: string): boolean {
    return [...this.files.keys()].some((f) => lower(f) === lower(p));
  }

  private deleteFile(p: string): void {
    for (const f of [...this.files.keys()]) if (lower(f) === lower(p)) this.files.delete(f);
  }

  private vmFacts(vm: FakeVm) {
    return {
      exists: true,
      count: 1,
      id: vm.id,
      notes: vm.notes,
      state: vm.state,
      status: 'Operating normally',
      heartbeat: vm.heartbeat,
      uptimeSeconds: vm.state === 'Running' ? vm.ticks * 10 : 0,
      generation: vm.generation,
      path: vm.path,
      firmware: {
        secureBoot: vm.secureBoot,
        template: vm.template,
        firstBoot: vm.loaderEntry
          ? { type: 'File', path: '', device: '', description: vm.loaderEntry }
          : vm.firstBoot
            ? { type: 'Drive', path: vm.firstBoot, device: 'HardDiskDrive' }
            : null,
      },
      disks: [...vm.disks],
      dvds: [...vm.dvds],
      adapters: [{ mac: vm.mac, switch: vm.switch, addresses: [] as string[] }],
      neighbours: [] as { ip: string; state: string }[],
      com1: vm.com1,
      checkpoints: vm.checkpoints,
    };
  }

  /** what is inside each Windows guest, as the web role's guest scripts see and change it */
  guests = new Map<string, FakeGuest>();

  guest(vm: string): FakeGuest {
    let g = this.guests.get(vm);
    if (!g) {
      g = { features: new Set(), wmsvc: { status: 'Stopped', startType: 'Manual' }, remote: false, firewall: false, files: new Map(), site: null, passwordFile: undefined };
      this.guests.set(vm, g);
    }
    return g;
  }

  private guestRun(p: Record<string, any>): unknown {
    const vm = this.vm(p.VMName);
    if (vm.state !== 'Running') throw new Error(`The virtual machine ${p.VMName} is not in running state`);
    const xml = this.received.get(vm.disks[0] ?? '')?.toString('utf8') ?? '';
    const encoded = /<Value>([^<]*)<\/Value>/.exec(xml)?.[1] ?? '';
    const password = Buffer.from(encoded, 'base64').toString('utf16le').replace(/AdministratorPassword$/, '');
    if (p.UserName !== 'Administrator' || p.Password !== password) throw new Error('The credential is invalid.');
    if (!existsSync(p.GuestScript)) throw new Error(`no such guest script: ${p.GuestScript}`);
    const g = this.guest(p.VMName);
    if (p.CopyFrom) {
      if (!existsSync(p.CopyFrom)) throw new Error(`Cannot find path '${p.CopyFrom}'`);
      g.files.set(p.CopyTo, p.CopyFrom);
    }
    const a = (p.Parameters ?? {}) as Record<string, any>;
    switch (path.basename(p.GuestScript)) {
      case 'web-state.ps1':
        return {
          features: Object.fromEntries((a.Features as string[]).map((f) => [f, g.features.has(f)])),
          files: Object.fromEntries(Object.entries(a.Files as Record<string, string>).map(([k, f]) => [k, g.files.has(f)])),
          wmsvc: g.features.has('Web-Mgmt-Service') ? g.wmsvc : null,
          remoteManagement: g.remote,
          firewall: g.firewall,
          site: g.site,
        };
      case 'install-features.ps1':
        for (const f of a.Features as string[]) g.features.add(f);
        return { restartNeeded: 'No' };
      case 'configure-wmsvc.ps1':
        if (!g.features.has('Web-Mgmt-Service')) throw new Error("Cannot find any service with service name 'WMSVC'");
        g.wmsvc = { status: 'Running', startType: 'Automatic' };
        g.remote = true;
        g.firewall = true;
        return { status: 'Running' };
      case 'install-msi.ps1':
        if (g.files.has(a.CheckPath)) return { already: true };
        if (!g.files.has(a.MsiPath)) throw new Error(`no such file: ${a.MsiPath}`);
        g.files.set(a.CheckPath, 'installed');
        return { installed: true, exitCode: 0 };
      case 'site.ps1': {
        const from = g.files.get(a.SitePath);
        if (a.NewContent && (!from || !existsSync(path.join(from, 'web.config')))) throw new Error(`${a.SitePath} has no web.config`);
        g.site = { state: 'Started', physicalPath: a.SitePath, bindings: `http *:${a.Port}:` };
        g.passwordFile = a.RedisPassword;
        if (from) g.webConfig = readFileSync(path.join(from, 'web.config'), 'utf8');
        return { site: a.SiteName, state: 'Started' };
      }
      default:
        throw new Error(`the fake guest does not know ${p.GuestScript}`);
    }
  }

  /** one get-vm poll moves a running VM along: the installer finishes, a booted system gets its heartbeat */
  private tick(vm: FakeVm): void {
    if (vm.state !== 'Running') return;
    vm.ticks++;
    if (vm.bootedFrom === 'installer' && vm.ticks >= this.installTicks) {
      vm.state = 'Off';
      vm.heartbeat = '';
      vm.bootedFrom = null;
    } else if (vm.bootedFrom === 'disk' && vm.ticks >= this.bootTicks) {
      vm.heartbeat = 'OkApplicationsHealthy';
      vm.loaderEntry = vm.com1 ? 'ubuntu' : 'Windows Boot Manager';
    }
  }

  private start(vm: FakeVm): void {
    if (vm.state === 'Running') return;
    vm.state = 'Running';
    vm.ticks = 0;
    vm.heartbeat = 'NoContact';
    const first = vm.firstBoot ?? vm.disks[0] ?? null;
    vm.bootedFrom = first && vm.dvds.includes(first) ? 'installer' : 'disk';
  }

  // eslint-disable-next-line complexity
  private run(script: string, p: Record<string, any>): unknown {
    switch (script) {
      case 'preflight.ps1':
        return {
          windows: 'Microsoft Windows Server 2022 Datacenter (fake)',
          build: '20348',
          elevated: this.elevated,
          hyperVModule: true,
          vmms: 'Running',
          freeMemoryBytes: this.freeMemoryBytes,
          vmPathRoot: 'C:\\',
          vmPathFreeBytes: 500 * 2 ** 30,
          labRootExists: this.dirs.has(p.LabRoot),
          files: (p.Files as string[]).map((f) => ({ path: f, exists: this.fileExists(f) })),
          switches: [...this.switches].map(([name, s]) => ({ name, type: s.type, notes: s.notes })),
          vms: [...this.vms.values()].map((v) => ({ name: v.name, notes: v.notes, state: v.state })),
          macsInUse: [...this.vms.values()].filter((v) => (p.MacAddresses as string[]).includes(v.mac)).map((v) => ({ mac: v.mac, vm: v.name })),
          nats: [...this.nats].map(([name, prefix]) => ({ name, prefix })),
          addresses: [{ ip: '192.0.2.10', prefix: 24, alias: 'Ethernet', ifIndex: 4 }],
          routes: [],
        };
      case 'get-host-dns.ps1':
        return { servers: this.hostDns };
      case 'new-dir.ps1': {
        const created = !this.dirs.has(p.Path);
        this.dirs.add(p.Path);
        return { path: p.Path, created };
      }
      case 'get-path.ps1':
        if (this.dirs.has(p.Path)) return { exists: true, folder: true, length: 0 };
        return this.fileExists(p.Path) ? { exists: true, folder: false, length: 1 } : { exists: false };
      case 'get-network.ps1': {
        const sw = this.switches.get(p.SwitchName);
        const ips = this.hostIps.get(p.SwitchName) ?? [];
        const nat = this.nats.get(p.NatName);
        return {
          switch: sw ? { name: p.SwitchName, type: sw.type, notes: sw.notes } : null,
          hostAddress: sw ? { ifIndex: 9, alias: `vEthernet (${p.SwitchName})`, addresses: ips, present: ips.includes(`${p.GatewayAddress}/${p.PrefixLength}`) } : null,
          nat: nat ? { name: p.NatName, prefix: nat } : null,
        };
      }
      case 'net-switch.ps1': {
        const sw = this.switches.get(p.SwitchName);
        if (sw) {
          if (sw.notes.split(/\r?\n/)[0] === p.OwnerTag) return { created: false };
          throw new Error(`a switch named '${p.SwitchName}' exists and labctl did not create it`);
        }
        this.switches.set(p.SwitchName, { notes: p.Notes, type: 'Internal' });
        return { created: true };
      }
      case 'net-host-ip.ps1': {
        if (!this.switches.has(p.SwitchName)) throw new Error(`switch '${p.SwitchName}' has no host adapter`);
        const ips = this.hostIps.get(p.SwitchName) ?? [];
        const want = `${p.IPAddress}/${p.PrefixLength}`;
        if (ips.includes(want)) return { changed: false };
        this.hostIps.set(p.SwitchName, [...ips.filter((i) => !i.startsWith(`${p.IPAddress}/`)), want]);
        return { changed: true };
      }
      case 'net-nat.ps1': {
        const have = this.nats.get(p.NatName);
        if (have === p.Prefix) return { created: false };
        if (have) throw new Error(`NAT '${p.NatName}' exists for ${have}`);
        this.nats.set(p.NatName, p.Prefix);
        return { created: true };
      }
      case 'test-windows-base.ps1':
        return { exists: this.fileExists(p.Path), matches: this.fileExists(p.Path) };
      case 'build-windows-base.ps1':
        if (!this.fileExists(p.IsoPath)) throw new Error(`no such file ${p.IsoPath}`);
        this.files.set(p.DestinationPath, { note: 'windows base' });
        return { built: true };
      case 'get-vm.ps1': {
        const vm = this.vms.get(p.Name);
        if (!vm) return { exists: false, count: 0 };
        this.tick(vm);
        return this.vmFacts(vm);
      }
      case 'new-vm.ps1': {
        const have = this.vms.get(p.Name);
        if (have) {
          if (have.notes.split(/\r?\n/)[0] !== p.OwnerTag && !p.Adopt) throw new Error(`a VM named '${p.Name}' exists and labctl did not create it`);
          have.notes = p.Notes;
          return { created: false, id: have.id };
        }
        if (!this.switches.has(p.SwitchName)) throw new Error(`no switch ${p.SwitchName}`);
        const vm: FakeVm = {
          name: p.Name,
          id: `00000000-0000-0000-0000-${String(this.nextId++).padStart(12, '0')}`,
          notes: p.Notes,
          state: 'Off',
          heartbeat: '',
          generation: 2,
          path: `${p.Path}\\${p.Name}`,
          memoryBytes: p.MemoryBytes,
          cpus: p.ProcessorCount,
          mac: p.MacAddress,
          switch: p.SwitchName,
          com1: p.ComPipe ?? '',
          disks: [],
          dvds: [],
          secureBoot: 'Off',
          template: '',
          firstBoot: null,
          ticks: 0,
          bootedFrom: null,
          loaderEntry: null,
          checkpoints: 0,
        };
        this.vms.set(p.Name, vm);
        return { created: true, id: vm.id };
      }
      case 'new-disk.ps1': {
        const vm = this.vm(p.VMName);
        if (!this.fileExists(p.Path)) {
          if (p.ParentPath && !this.fileExists(p.ParentPath)) throw new Error(`no parent ${p.ParentPath}`);
          this.files.set(p.Path, { note: p.ParentPath ? `diff over ${p.ParentPath}` : `dynamic ${p.SizeBytes}` });
        }
        if (!vm.disks.includes(p.Path)) vm.disks.push(p.Path);
        return { created: true };
      }
      case 'attach-dvd.ps1': {
        const vm = this.vm(p.VMName);
        if (p.CopyFrom) {
          if (!existsSync(p.CopyFrom)) throw new Error(`no such file ${p.CopyFrom}`);
          const bytes = readFileSync(p.CopyFrom);
          this.received.set(p.Path, bytes);
          this.files.set(p.Path, { bytes });
        } else if (!this.fileExists(p.Path)) throw new Error(`no such file: ${p.Path}`);
        if (!vm.dvds.includes(p.Path)) vm.dvds.push(p.Path);
        return { added: true };
      }
      case 'set-firmware.ps1': {
        const vm = this.vm(p.VMName);
        // as Hyper-V: firmware settings cannot change while the VM runs
        if (vm.state !== 'Off') throw new Error('The operation cannot be performed while the virtual machine is in its current state.');
        if (!vm.dvds.includes(p.FirstBootPath) && !vm.disks.includes(p.FirstBootPath)) throw new Error(`VM has no drive holding ${p.FirstBootPath}`);
        vm.secureBoot = 'On';
        vm.template = p.SecureBootTemplate;
        vm.firstBoot = p.FirstBootPath;
        return { secureBoot: 'On', template: vm.template };
      }
      case 'start-vm.ps1': {
        const vm = this.vm(p.VMName);
        const before = vm.state;
        this.start(vm);
        return { before, state: vm.state };
      }
      case 'finish-install.ps1': {
        const vm = this.vm(p.VMName);
        const discs = vm.dvds.filter((d) => d === p.InstallerPath || d === p.SeedPath);
        if (discs.length > 0 && vm.state !== 'Off') throw new Error(`VM '${p.VMName}' is ${vm.state}, not Off`);
        vm.dvds = vm.dvds.filter((d) => !discs.includes(d));
        this.deleteFile(p.SeedPath);
        if (vm.state === 'Off') {
          vm.firstBoot = p.DiskPath;
          this.start(vm);
        }
        return { removedDiscs: discs.length, state: vm.state };
      }
      case 'inject-unattend.ps1': {
        if (!this.fileExists(p.VhdPath)) throw new Error(`no disk ${p.VhdPath}`);
        if (!existsSync(p.UnattendPath)) throw new Error(`no such file: ${p.UnattendPath}`);
        this.received.set(p.VhdPath, readFileSync(p.UnattendPath));
        return { written: 'W:\\Windows\\Panther\\unattend.xml' };
      }
      case 'probe-psdirect.ps1': {
        const vm = this.vm(p.VMName);
        if (vm.state !== 'Running' || vm.ticks < this.psDirectTicks) {
          if (vm.state === 'Running') vm.ticks++;
          return { answered: false, reason: 'The virtual machine is not ready for PowerShell Direct' };
        }
        const xml = this.received.get(vm.disks[0] ?? '')?.toString('utf8') ?? '';
        const encoded = /<Value>([^<]*)<\/Value>/.exec(xml)?.[1] ?? '';
        const password = Buffer.from(encoded, 'base64').toString('utf16le').replace(/AdministratorPassword$/, '');
        if (p.UserName !== 'Administrator' || p.Password !== password) return { answered: false, reason: 'The credential is invalid.' };
        const name = /<ComputerName>([^<]*)<\/ComputerName>/.exec(xml)?.[1] ?? '';
        return { answered: true, computerName: name };
      }
      case 'guest-run.ps1':
        return this.guestRun(p);
      case 'find-route.ps1':
        return { ifIndex: 9, alias: `vEthernet (${p.SwitchName})`, labIfIndex: 9, viaLab: this.switches.has(p.SwitchName) };
      case 'remove-vm.ps1': {
        const vm = this.vms.get(p.Name);
        if (!vm) return { removed: false, files: [], failed: [] };
        if (vm.notes.split(/\r?\n/)[0] !== p.OwnerTag) throw new Error(`VM '${p.Name}' exists but its notes lack '${p.OwnerTag}'`);
        this.vms.delete(p.Name);
        const removed: string[] = [];
        for (const f of [...vm.disks, ...vm.dvds]) {
          if (inside(p.LabRoot, f) && this.fileExists(f)) {
            this.deleteFile(f);
            removed.push(f);
          }
        }
        return { removed: true, files: removed, failed: [] };
      }
      case 'remove-path.ps1': {
        if (!inside(p.LabRoot, p.Path)) throw new Error(`refusing to remove ${p.Path}`);
        for (const vm of this.vms.values()) {
          const uses = (f: string) => (p.Recurse ? inside(p.Path, f) : lower(f) === lower(p.Path));
          if ((p.Recurse && uses(vm.path)) || vm.disks.some(uses)) throw new Error(`${p.Path} is still used by VM ${vm.name}`);
        }
        this.deleteFile(p.Path);
        if (p.Recurse) {
          this.dirs.delete(p.Path);
          for (const f of [...this.files.keys()]) if (inside(p.Path, f)) this.files.delete(f);
        }
        return { removed: true };
      }
      case 'remove-nat.ps1': {
        const have = this.nats.get(p.NatName);
        if (have === undefined) return { removed: false };
        if (have !== p.Prefix) throw new Error(`NAT '${p.NatName}' now covers ${have}`);
        this.nats.delete(p.NatName);
        return { removed: true };
      }
      case 'remove-host-ip.ps1': {
        const ips = this.hostIps.get(p.SwitchName);
        if (!ips) return { removed: false };
        this.hostIps.set(p.SwitchName, ips.filter((i) => !i.startsWith(`${p.IPAddress}/`)));
        return { removed: true };
      }
      case 'remove-switch.ps1': {
        const sw = this.switches.get(p.SwitchName);
        if (!sw) return { removed: false };
        if (sw.notes.split(/\r?\n/)[0] !== p.OwnerTag) throw new Error(`switch '${p.SwitchName}' does not carry '${p.OwnerTag}'`);
        const users = [...this.vms.values()].filter((v) => v.switch === p.SwitchName).map((v) => v.name);
        if (users.length > 0) throw new Error(`switch '${p.SwitchName}' is still used by VM ${users.join(', ')}`);
        this.switches.delete(p.SwitchName);
        this.hostIps.delete(p.SwitchName);
        return { removed: true };
      }
      case 'leftovers.ps1': {
        const left: string[] = [];
        for (const vm of this.vms.values()) {
          const mark = vm.notes.split(/\r?\n/)[0]!;
          if (mark === p.OwnerTag || mark.startsWith(`${p.OwnerTag}:`)) left.push(`VM ${vm.name} (${vm.state})`);
        }
        const sw = this.switches.get(p.SwitchName);
        if (sw && sw.notes.split(/\r?\n/)[0] === p.OwnerTag) left.push(`switch ${p.SwitchName}`);
        if (this.nats.has(p.NatName)) left.push(`NAT ${p.NatName}`);
        if (this.dirs.has(p.LabRoot)) left.push(`folder ${p.LabRoot}`);
        return { leftovers: left };
      }
      default:
        throw new Error(`the fake host does not know ${script}`);
    }
  }
}

/** A clock whose sleep returns at once and moves time on. */
export function fakeClock(start = 1_700_000_000_000): Clock & { slept: number } {
  const c = {
    t: start,
    slept: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
      c.slept += ms;
    },
  };
  return c;
}

/** Console taps that record what was opened and closed, and write `text` as the console's output. */
export function fakeTaps(text?: string): { factory: ConsoleTapFactory; started: string[]; stopped: string[] } {
  const started: string[] = [];
  const stopped: string[] = [];
  return {
    started,
    stopped,
    factory: (pipe, file) => {
      started.push(pipe);
      if (text !== undefined) {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, text);
      }
      return { file, stop: () => stopped.push(pipe) };
    },
  };
}

/** Reads the files of an ISO 9660 image through its Joliet tree (test-side, independent of the writer's code). */
export function readIsoFiles(iso: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let sector = 16; sector < 32; sector++) {
    const d = iso.subarray(sector * 2048, sector * 2048 + 2048);
    if (d[0] === 255) break;
    if (d[0] !== 2 || d.toString('ascii', 88, 91) !== '%/E') continue;
    const rootExtent = d.readUInt32LE(156 + 2);
    const rootSize = d.readUInt32LE(156 + 10);
    const dir = iso.subarray(rootExtent * 2048, rootExtent * 2048 + rootSize);
    for (let off = 0; off < dir.length && dir[off]! > 0; off += dir[off]!) {
      const rec = dir.subarray(off, off + dir[off]!);
      const nameLen = rec[32]!;
      const raw = rec.subarray(33, 33 + nameLen);
      if (nameLen === 1 && (raw[0] === 0 || raw[0] === 1)) continue;
      const swapped = Buffer.alloc(raw.length);
      for (let i = 0; i < raw.length; i += 2) {
        swapped[i] = raw[i + 1]!;
        swapped[i + 1] = raw[i]!;
      }
      const name = swapped.toString('utf16le').replace(/;1$/, '');
      const extent = rec.readUInt32LE(2);
      const size = rec.readUInt32LE(10);
      files.set(name, iso.subarray(extent * 2048, extent * 2048 + size));
    }
  }
  return files;
}

export const SEED_SPEC = `
name: hvtest
network: { subnet: 198.18.40.0/24 }
redis: { version: 7.0.15 }
machines:
  redis: { role: redis, os: ubuntu, ip: 198.18.40.10, cpus: 2, memory: 2GB, disk: 20GB }
  web1:  { role: web, os: windows, ip: 198.18.40.11, cpus: 2, memory: 4GB, disk: 40GB }
  web2:  { role: web, os: windows, ip: 198.18.40.12, cpus: 2, memory: 4GB, disk: 40GB }
hyperv:
  ubuntuIso: C:\\iso\\ubuntu-24.04-live-server-amd64.iso
  windowsIso: C:\\iso\\windows-server-2022.iso
  vmPath: C:\\labctl\\vms
`;

export interface TestLab {
  dir: string;
  lab: LabContext;
  host: FakeHyperV;
  clock: ReturnType<typeof fakeClock>;
  taps: ReturnType<typeof fakeTaps>;
  provider: HypervProvider;
  sshAttempts: number;
  cleanup(): void;
}

/**
 * A lab on the fake host: a temporary LABCTL home with the spec, its store initialised as
 * `create` does after preflight, and the provider wired to the fake runner, clock, console
 * and SSH. The SSH probe answers once the redis VM runs from its disk with a heartbeat,
 * and only if the seed disc it was installed from carried the host key labctl recorded.
 */
export function testLab(specText = SEED_SPEC, opts: { sshAfter?: number; host?: FakeHyperV; consoleText?: string } = {}): TestLab {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-hv-'));
  const specFile = path.join(dir, 'lab.yaml');
  writeFileSync(specFile, specText);
  const spec = parseSpec(specText, specFile);
  const store = new LabStore(path.join(dir, 'home'), spec.name);
  store.open('test');
  store.init('hyperv', { file: spec.file, hash: spec.hash });
  const host = opts.host ?? new FakeHyperV();
  // the installation media exist on the fake host
  for (const f of [spec.hyperv?.ubuntuIso, spec.hyperv?.windowsIso, spec.hyperv?.windowsImage]) if (f) host.files.set(f, { note: 'media' });
  const clock = fakeClock();
  const taps = fakeTaps(opts.consoleText);
  // the fake host has no golden-disk scripts: those have their own tests (test/hyperv-sim/golden*.test.ts)
  const lab: LabContext = { spec, store, home: path.join(dir, 'home'), imageCache: false };
  const t: TestLab = {
    dir,
    lab,
    host,
    clock,
    taps,
    sshAttempts: 0,
    provider: undefined as unknown as HypervProvider,
    cleanup: () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.provider = new HypervProvider({
    runner: host.runner(),
    clock,
    pollMs: { install: 30_000, boot: 5_000, ready: 5_000 },
    consoleTap: taps.factory,
    sshProbe: async (l, m) => {
      t.sshAttempts++;
      const vm = [...host.vms.values()].find((v) => v.name.endsWith(`-${m.name}`));
      if (!vm || vm.state !== 'Running' || !/^Ok/.test(vm.heartbeat)) return { ok: false, reason: 'connect ETIMEDOUT' };
      if (t.sshAttempts < (opts.sshAfter ?? 1)) return { ok: false, reason: 'connect ECONNREFUSED' };
      const seed = [...host.received.entries()].find(([k]) => k.includes(`-${m.name}\\seed`))?.[1];
      const userData = seed ? readIsoFiles(seed).get('user-data')?.toString('utf8') ?? '' : '';
      const pinned = l.store.fact<string>(hostKeyFact(m.name)) ?? '';
      if (!pinned || !userData.includes(JSON.stringify(pinned))) return { ok: false, reason: 'presented a host key that is not the one labctl recorded' };
      return { ok: true };
    },
  });
  return t;
}
