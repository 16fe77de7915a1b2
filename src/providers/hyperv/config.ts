import type { LabSpec, MachineSpec } from '../../spec/types.js';
import { parseDuration } from '../../util/time.js';
import type { LabStore } from '../../state/store.js';
import { comPipe, defaultSwitchName, macAddress, natName, shortHash, vmName, winJoin } from './names.js';

export const DEFAULT_VM_PATH = 'C:\\labctl\\vms';
/** Windows base disks built from an ISO are this big (dynamic: only written blocks take space). */
export const WINDOWS_BASE_BYTES = 127 * 2 ** 30;
export const UBUNTU_USER = 'labctl';
export const WINDOWS_ADMIN = 'Administrator';
export const DNS_FACT = 'hyperv:dns';

/** The hyperv block of a spec with every default filled in and every host path worked out. */
export interface HypervConfig {
  lab: string;
  vmPath: string;
  /** <vmPath>\<lab>: every VM folder and disk of the lab lives here, and nothing else */
  labRoot: string;
  /** Windows base disks built from an ISO, shared by labs and kept by teardown */
  cacheDir: string;
  switchName: string;
  natName: string;
  nat: boolean;
  ubuntuIso?: string;
  windowsIso?: string;
  windowsImageIndex: number;
  /** the parent disk of every Windows VM: the spec's windowsImage, or the cached build of windowsIso */
  windowsBase?: string;
  timeZone: string;
  dns?: string[];
  timeouts: { installMs: number; bootMs: number; readyMs: number; pollMs?: number };
}

export function hypervConfig(spec: LabSpec): HypervConfig {
  const h = spec.hyperv;
  const vmPath = (h?.vmPath ?? DEFAULT_VM_PATH).replace(/[\\/]+$/, '');
  const cacheDir = h?.imageCache ?? winJoin(vmPath, '_cache');
  const index = h?.windowsImageIndex ?? 2;
  let windowsBase = h?.windowsImage;
  if (!windowsBase && h?.windowsIso) {
    // named after the ISO's path and the image index; build-windows-base.ps1 keeps a note of
    // the ISO's size and date beside it and refuses to reuse it for a different file
    windowsBase = winJoin(cacheDir, `windows-${shortHash(`${h.windowsIso.toLowerCase()}|${index}`)}-${index}.vhdx`);
  }
  const t = h?.timeouts;
  return {
    lab: spec.name,
    vmPath,
    labRoot: winJoin(vmPath, spec.name),
    cacheDir,
    switchName: h?.switch ?? defaultSwitchName(spec.name),
    natName: natName(spec.name),
    nat: spec.network.nat !== false,
    ubuntuIso: h?.ubuntuIso,
    windowsIso: h?.windowsIso,
    windowsImageIndex: index,
    windowsBase,
    timeZone: h?.timeZone ?? 'UTC',
    dns: h?.dns,
    timeouts: {
      installMs: parseDuration(t?.install ?? '45m'),
      bootMs: parseDuration(t?.boot ?? '10m'),
      readyMs: parseDuration(t?.ready ?? '10m'),
      pollMs: t?.poll ? parseDuration(t.poll) : undefined,
    },
  };
}

export interface MachinePaths {
  vm: string;
  /** the VM's own folder (New-VM -Path <labRoot> puts its configuration here too) */
  dir: string;
  osDisk: string;
  /** the NoCloud seed as the VM sees it (a copy in its folder, removed after the install) */
  seedIso: string;
  mac: string;
  pipe: string;
}

export function machinePaths(cfg: HypervConfig, m: MachineSpec): MachinePaths {
  const vm = vmName(cfg.lab, m.name);
  const dir = winJoin(cfg.labRoot, vm);
  return {
    vm,
    dir,
    osDisk: winJoin(dir, `${vm}.vhdx`),
    seedIso: winJoin(dir, 'seed-cidata.iso'),
    mac: macAddress(cfg.lab, m.name),
    pipe: comPipe(cfg.lab, m.name),
  };
}

/** The DNS servers given to the VMs: the spec's, else the host's own as recorded by the lab:dns step. */
export function labDns(cfg: HypervConfig, store: LabStore): string[] | undefined {
  return cfg.dns ?? store.fact<string[]>(DNS_FACT);
}
