import type { StepAction } from '../../engine/step.js';
import type { MachineSpec } from '../../spec/types.js';
import { scriptFile, type InvokeOptions, type PowerShellRunner } from '../../transports/powershell.js';
import { WINDOWS_ADMIN, WINDOWS_BASE_BYTES, machinePaths, type HypervConfig } from './config.js';
import { ownerTag, switchNotes, vmNotes } from './names.js';

/**
 * Every host-side operation as data: a script under templates/hyperv and its named
 * parameters. The same object is what a step runs and what `plan` prints, so the plan
 * cannot drift from what happens. Secret parameters are named so plan can mask them.
 */
export interface ScriptCall {
  script: string;
  params: Record<string, unknown>;
  secrets?: string[];
}

export function describeCall(call: ScriptCall): StepAction {
  const params = { ...call.params };
  for (const name of call.secrets ?? []) if (name in params) params[name] = '<secret, from the lab secrets>';
  return { script: `templates/${call.script}`, params };
}

export function runCall<T>(runner: PowerShellRunner, call: ScriptCall, opts?: InvokeOptions): Promise<T> {
  return runner.invoke<T>(call.script, call.params, opts);
}

/** What get-vm.ps1 reports. */
export interface VmFacts {
  exists: boolean;
  count?: number;
  id?: string;
  notes?: string;
  state?: string;
  status?: string;
  heartbeat?: string;
  uptimeSeconds?: number;
  generation?: number;
  path?: string;
  firmware?: { secureBoot: string; template: string; firstBoot: { type: string; path: string; device: string; description?: string } | null } | null;
  disks?: string[];
  dvds?: string[];
  adapters?: { mac: string; switch: string; addresses: string[] }[];
  neighbours?: { ip: string; state: string }[];
  com1?: string;
  checkpoints?: number;
}

export interface NetworkFacts {
  switch: { name: string; type: string; notes: string } | null;
  hostAddress: { ifIndex: number; alias: string; addresses: string[]; present: boolean } | null;
  nat: { name: string; prefix: string } | null;
}

/** The first line of a Notes field is labctl's mark. */
export function noteMark(notes: string | undefined): string {
  return (notes ?? '').split(/\r?\n/)[0] ?? '';
}

export const call = {
  hostDns: (cfg: HypervConfig): ScriptCall => ({ script: 'hyperv/get-host-dns.ps1', params: { ExcludeSwitchName: cfg.switchName } }),
  newDir: (path: string): ScriptCall => ({ script: 'hyperv/new-dir.ps1', params: { Path: path } }),
  getPath: (path: string): ScriptCall => ({ script: 'hyperv/get-path.ps1', params: { Path: path } }),
  getNetwork: (cfg: HypervConfig, gateway: string, prefix: number): ScriptCall => ({
    script: 'hyperv/get-network.ps1',
    params: { SwitchName: cfg.switchName, NatName: cfg.natName, GatewayAddress: gateway, PrefixLength: prefix },
  }),
  netSwitch: (cfg: HypervConfig): ScriptCall => ({
    script: 'hyperv/net-switch.ps1',
    params: { SwitchName: cfg.switchName, OwnerTag: ownerTag(cfg.lab), Notes: switchNotes(cfg.lab) },
  }),
  netHostIp: (cfg: HypervConfig, gateway: string, prefix: number): ScriptCall => ({
    script: 'hyperv/net-host-ip.ps1',
    params: { SwitchName: cfg.switchName, IPAddress: gateway, PrefixLength: prefix },
  }),
  netNat: (cfg: HypervConfig, cidr: string): ScriptCall => ({ script: 'hyperv/net-nat.ps1', params: { NatName: cfg.natName, Prefix: cidr } }),
  testWindowsBase: (cfg: HypervConfig): ScriptCall => ({
    script: 'hyperv/test-windows-base.ps1',
    params: { Path: cfg.windowsBase, IsoPath: cfg.windowsIso, ImageIndex: cfg.windowsImageIndex },
  }),
  buildWindowsBase: (cfg: HypervConfig): ScriptCall => ({
    script: 'hyperv/build-windows-base.ps1',
    params: { IsoPath: cfg.windowsIso, ImageIndex: cfg.windowsImageIndex, DestinationPath: cfg.windowsBase, SizeBytes: WINDOWS_BASE_BYTES },
  }),
  getVm: (cfg: HypervConfig, m: MachineSpec): ScriptCall => {
    const p = machinePaths(cfg, m);
    return { script: 'hyperv/get-vm.ps1', params: { Name: p.vm, MacAddress: p.mac } };
  },
  newVm: (cfg: HypervConfig, m: MachineSpec, adopt: boolean): ScriptCall => {
    const p = machinePaths(cfg, m);
    return {
      script: 'hyperv/new-vm.ps1',
      params: {
        Name: p.vm,
        Path: cfg.labRoot,
        MemoryBytes: m.memoryBytes,
        ProcessorCount: m.cpus,
        SwitchName: cfg.switchName,
        MacAddress: p.mac,
        OwnerTag: ownerTag(cfg.lab, m.name),
        Notes: vmNotes(cfg.lab, m),
        ...(m.os === 'ubuntu' ? { ComPipe: p.pipe } : {}),
        ...(adopt ? { Adopt: true } : {}),
      },
    };
  },
  newDisk: (cfg: HypervConfig, m: MachineSpec): ScriptCall => {
    const p = machinePaths(cfg, m);
    return {
      script: 'hyperv/new-disk.ps1',
      params: m.os === 'windows' ? { VMName: p.vm, Path: p.osDisk, ParentPath: cfg.windowsBase } : { VMName: p.vm, Path: p.osDisk, SizeBytes: m.diskBytes },
    };
  },
  attachSeed: (cfg: HypervConfig, m: MachineSpec, localSeed: string): ScriptCall => {
    const p = machinePaths(cfg, m);
    return { script: 'hyperv/attach-dvd.ps1', params: { VMName: p.vm, Path: p.seedIso, CopyFrom: localSeed } };
  },
  attachInstaller: (cfg: HypervConfig, m: MachineSpec): ScriptCall => ({
    script: 'hyperv/attach-dvd.ps1',
    params: { VMName: machinePaths(cfg, m).vm, Path: cfg.ubuntuIso },
  }),
  firmware: (cfg: HypervConfig, m: MachineSpec): ScriptCall => {
    const p = machinePaths(cfg, m);
    return {
      script: 'hyperv/set-firmware.ps1',
      params:
        m.os === 'ubuntu'
          ? { VMName: p.vm, SecureBootTemplate: 'MicrosoftUEFICertificateAuthority', FirstBootPath: cfg.ubuntuIso }
          : { VMName: p.vm, SecureBootTemplate: 'MicrosoftWindows', FirstBootPath: p.osDisk },
    };
  },
  injectUnattend: (cfg: HypervConfig, m: MachineSpec, localUnattend: string): ScriptCall => ({
    script: 'hyperv/inject-unattend.ps1',
    params: { VhdPath: machinePaths(cfg, m).osDisk, UnattendPath: localUnattend },
  }),
  startVm: (cfg: HypervConfig, m: MachineSpec): ScriptCall => ({ script: 'hyperv/start-vm.ps1', params: { VMName: machinePaths(cfg, m).vm } }),
  finishInstall: (cfg: HypervConfig, m: MachineSpec): ScriptCall => {
    const p = machinePaths(cfg, m);
    return { script: 'hyperv/finish-install.ps1', params: { VMName: p.vm, InstallerPath: cfg.ubuntuIso, SeedPath: p.seedIso, DiskPath: p.osDisk } };
  },
  probePsDirect: (cfg: HypervConfig, m: MachineSpec, password: string): ScriptCall => ({
    script: 'hyperv/probe-psdirect.ps1',
    params: { VMName: machinePaths(cfg, m).vm, UserName: WINDOWS_ADMIN, Password: password },
    secrets: ['Password'],
  }),
  guestRun: (
    cfg: HypervConfig,
    m: MachineSpec,
    password: string,
    guestScript: string,
    parameters: Record<string, unknown>,
    copy?: { from: string; to: string },
  ): ScriptCall => ({
    script: 'hyperv/guest-run.ps1',
    params: {
      VMName: machinePaths(cfg, m).vm,
      UserName: WINDOWS_ADMIN,
      Password: password,
      GuestScript: scriptFile(guestScript),
      Parameters: parameters,
      ...(copy ? { CopyFrom: copy.from, CopyTo: copy.to } : {}),
    },
    secrets: ['Password'],
  }),
  findRoute: (cfg: HypervConfig, ip: string): ScriptCall => ({ script: 'hyperv/find-route.ps1', params: { IPAddress: ip, SwitchName: cfg.switchName } }),
  removeVm: (cfg: HypervConfig, vm: string, machine: string): ScriptCall => ({
    script: 'hyperv/remove-vm.ps1',
    params: { Name: vm, OwnerTag: ownerTag(cfg.lab, machine), LabRoot: cfg.labRoot },
  }),
  removePath: (cfg: HypervConfig, path: string, recurse: boolean): ScriptCall => ({
    script: 'hyperv/remove-path.ps1',
    params: { Path: path, LabRoot: cfg.labRoot, ...(recurse ? { Recurse: true } : {}) },
  }),
  removeNat: (name: string, prefix: string): ScriptCall => ({ script: 'hyperv/remove-nat.ps1', params: { NatName: name, Prefix: prefix } }),
  removeHostIp: (switchName: string, ip: string): ScriptCall => ({ script: 'hyperv/remove-host-ip.ps1', params: { SwitchName: switchName, IPAddress: ip } }),
  removeSwitch: (switchName: string, tag: string): ScriptCall => ({ script: 'hyperv/remove-switch.ps1', params: { SwitchName: switchName, OwnerTag: tag } }),
  leftovers: (cfg: HypervConfig): ScriptCall => ({
    script: 'hyperv/leftovers.ps1',
    params: { OwnerTag: ownerTag(cfg.lab), SwitchName: cfg.switchName, NatName: cfg.natName, LabRoot: cfg.labRoot },
  }),
};

