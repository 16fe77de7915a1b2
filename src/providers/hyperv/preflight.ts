import { overlaps, parseCidr, parseIPv4, subnetOf } from '../../spec/ipv4.js';
import type { LabSpec } from '../../spec/types.js';
import type { Resource } from '../../state/store.js';
import { LabctlError, PreflightError, errorMessage } from '../../util/errors.js';
import { machinePaths, type HypervConfig } from './config.js';
import { invoke, type HypervEnv } from './env.js';
import { ownerTag } from './names.js';
import { noteMark } from './scripts.js';

/** What preflight.ps1 reports about the host. */
export interface HostFacts {
  windows: string;
  build: string;
  elevated: boolean;
  hyperVModule: boolean;
  vmms: string | null;
  freeMemoryBytes: number;
  vmPathRoot: string;
  vmPathFreeBytes: number | null;
  labRootExists: boolean;
  files: { path: string; exists: boolean }[];
  switches: { name: string; type: string; notes: string }[];
  vms: { name: string; notes: string; state: string }[];
  macsInUse: { mac: string; vm: string }[];
  nats: { name: string; prefix: string }[];
  addresses: { ip: string; prefix: number; alias: string; ifIndex: number }[];
  routes: { prefix: string; alias: string; ifIndex: number }[];
  /** Get-ExecutionPolicy -List: the Group Policy scopes, the session's own, the one in force */
  executionPolicy?: { machinePolicy: string; userPolicy: string; process: string; effective: string };
}

/**
 * Execution policies under which Windows refuses labctl's scripts (they are not signed).
 * RemoteSigned runs them (they were not downloaded by a browser); Unrestricted and Bypass do.
 */
const BLOCKING_POLICIES = ['Restricted', 'AllSigned', 'Default'];

const POLICY_FIX =
  'ask your administrator to allow RemoteSigned for this machine or user in Group Policy (Computer or User Configuration > Administrative Templates > Windows Components > Windows PowerShell > Turn on Script Execution), then check with Get-ExecutionPolicy -List';

/** The problem a Group Policy execution policy makes for labctl, if any (about_Execution_Policies: MachinePolicy and UserPolicy come before Process). */
export function executionPolicyProblem(p: HostFacts['executionPolicy']): string | undefined {
  if (!p) return undefined;
  for (const [scope, value] of [
    ['MachinePolicy', p.machinePolicy],
    ['UserPolicy', p.userPolicy],
  ] as const) {
    if (value && BLOCKING_POLICIES.includes(value)) {
      return `Group Policy sets the PowerShell execution policy to ${value} (${scope} scope), which overrides the -ExecutionPolicy Bypass labctl starts PowerShell with, so Windows refuses labctl's unsigned scripts: ${POLICY_FIX}`;
    }
  }
  return undefined;
}

/** Windows PowerShell's refusal to run a script because of its execution policy. */
export function isExecutionPolicyError(message: string): boolean {
  return /running scripts is disabled on this system|is not digitally signed|cannot be loaded because|execution polic|PSSecurityException|UnauthorizedAccess/i.test(message);
}

const GB = 2 ** 30;

/** Disk space a lab needs in vmPath (dynamic disks: what an install really writes, not their size). */
export function diskNeed(spec: LabSpec, cfg: HypervConfig, baseExists: boolean): number {
  let need = 0;
  for (const m of spec.machines) need += m.os === 'ubuntu' ? Math.min(m.diskBytes, 8 * GB) : 6 * GB;
  if (cfg.windowsIso && !baseExists && spec.machines.some((m) => m.os === 'windows')) need += 12 * GB;
  return need;
}

function gb(bytes: number): string {
  return `${(bytes / GB).toFixed(1)} GB`;
}

/**
 * Every problem the host has for this lab, one line each with what to do. Pure: it reads
 * the facts, the spec and the journal (what the lab already owns is not a conflict).
 */
export function preflightProblems(facts: HostFacts, spec: LabSpec, cfg: HypervConfig, owned: Resource[]): string[] {
  const out: string[] = [];
  const ours = (kind: string, id: string) => owned.some((r) => r.kind === kind && r.id === id);
  if (!facts.elevated) out.push('labctl is not elevated: run it from a terminal opened with "Run as administrator" (switches, NAT and disks need it)');
  if (!facts.hyperVModule) {
    out.push(
      'the Hyper-V PowerShell module is missing: enable Hyper-V (Windows 10/11: Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All; Windows Server: Install-WindowsFeature Hyper-V -IncludeManagementTools -Restart), then reboot',
    );
  }
  const policy = executionPolicyProblem(facts.executionPolicy);
  if (policy) out.push(policy);
  if (facts.vmms !== 'Running') {
    out.push(
      facts.vmms
        ? `the Hyper-V Virtual Machine Management service (vmms) is ${facts.vmms}: Start-Service vmms`
        : 'the Hyper-V Virtual Machine Management service (vmms) is not installed: enable Hyper-V and reboot',
    );
  }

  for (const f of facts.files) {
    if (f.exists) continue;
    if (f.path === cfg.ubuntuIso) out.push(`hyperv.ubuntuIso ${f.path} does not exist: download the Ubuntu Server live ISO (24.04 LTS) from https://ubuntu.com/download/server and set its path`);
    else if (f.path === cfg.windowsIso) out.push(`hyperv.windowsIso ${f.path} does not exist: download a Windows Server ISO (e.g. the 2022 evaluation) and set its path`);
    else if (f.path === cfg.windowsBase && !cfg.windowsIso) out.push(`hyperv.windowsImage ${f.path} does not exist: give a generalized Windows Server VHDX, or hyperv.windowsIso to build one`);
  }

  const created = spec.machines.filter((m) => ours('hyperv-vm', machinePaths(cfg, m).vm));
  const memory = spec.machines.filter((m) => !created.includes(m)).reduce((sum, m) => sum + m.memoryBytes, 0);
  if (memory > 0 && facts.freeMemoryBytes < memory) {
    out.push(`the machines need ${gb(memory)} of memory and the host has ${gb(facts.freeMemoryBytes)} free: close programs or lower machines.*.memory`);
  }
  const baseFile = facts.files.find((f) => f.path === cfg.windowsBase);
  const disk = created.length === spec.machines.length ? 0 : diskNeed(spec, cfg, Boolean(baseFile?.exists));
  if (facts.vmPathFreeBytes !== null && disk > 0 && facts.vmPathFreeBytes < disk) {
    out.push(`${facts.vmPathRoot} has ${gb(facts.vmPathFreeBytes)} free and the lab needs about ${gb(disk)} under ${cfg.vmPath}: free some space or set hyperv.vmPath to another drive`);
  }

  if (facts.labRootExists && !ours('hyperv-dir', cfg.labRoot)) {
    out.push(`the folder ${cfg.labRoot} exists and this lab did not create it: move it away, or set hyperv.vmPath elsewhere`);
  }

  const sw = facts.switches.find((s) => s.name.toLowerCase() === cfg.switchName.toLowerCase());
  if (sw && noteMark(sw.notes) !== ownerTag(cfg.lab)) {
    out.push(`a switch named ${sw.name} exists and labctl did not create it for this lab: labctl never uses or changes it; remove it or set hyperv.switch to another name`);
  }
  for (const m of spec.machines) {
    const p = machinePaths(cfg, m);
    const same = facts.vms.filter((v) => v.name.toLowerCase() === p.vm.toLowerCase());
    if (same.some((v) => noteMark(v.notes) !== ownerTag(cfg.lab, m.name)) && !ours('hyperv-vm', p.vm)) {
      out.push(`a VM named ${p.vm} exists and labctl did not create it: remove or rename it, or rename the lab`);
    }
    for (const use of facts.macsInUse.filter((u) => u.mac === p.mac && u.vm.toLowerCase() !== p.vm.toLowerCase())) {
      out.push(`VM ${use.vm} uses the MAC address ${p.mac} that labctl gives ${m.name}: change that VM's MAC or rename the lab`);
    }
  }

  const subnet = spec.network.subnet ?? parseCidr(spec.network.cidr).subnet!;
  const nat = facts.nats.find((n) => n.name === cfg.natName);
  if (nat && !(ours('hyperv-nat', cfg.natName) && nat.prefix === spec.network.cidr)) {
    out.push(`a NAT named ${nat.name} (${nat.prefix}) exists and this lab did not create it: Remove-NetNat -Name ${nat.name}, or rename the lab`);
  }
  for (const n of facts.nats) {
    if (n.name === cfg.natName) continue;
    const other = parseCidr(n.prefix).subnet;
    if (other && overlaps(other, subnet)) {
      out.push(`network.subnet ${spec.network.cidr} overlaps NAT ${n.name} (${n.prefix}) on this host: choose another subnet`);
    }
  }
  // the lab switch's own adapter is the only place the gateway address may already be
  const labAlias = `vEthernet (${cfg.switchName})`.toLowerCase();
  for (const a of facts.addresses) {
    const ip = parseIPv4(a.ip);
    if (ip === undefined || a.alias.toLowerCase() === labAlias) continue;
    if (overlaps(subnetOf(ip, a.prefix), subnet)) {
      out.push(`network.subnet ${spec.network.cidr} overlaps ${a.ip}/${a.prefix} on ${a.alias}: choose another subnet`);
    }
  }
  for (const r of facts.routes) {
    if (r.alias.toLowerCase() === labAlias) continue;
    const [addr, bits] = r.prefix.split('/');
    const ip = parseIPv4(addr ?? '');
    if (ip === undefined || bits === undefined || Number(bits) === 32 || Number(bits) === 0) continue;
    const route = subnetOf(ip, Number(bits));
    // routes that only exist because of an address already reported above add nothing
    if (facts.addresses.some((a) => a.ifIndex === r.ifIndex && parseIPv4(a.ip) !== undefined && overlaps(subnetOf(parseIPv4(a.ip)!, a.prefix), route))) continue;
    if (route.prefix >= 8 && overlaps(route, subnet)) out.push(`network.subnet ${spec.network.cidr} overlaps the route ${r.prefix} via ${r.alias} (a VPN?): choose another subnet`);
  }
  return [...new Set(out)];
}

/** Runs the checks on the host; throws one PreflightError listing every problem (exit 2). */
export async function hypervPreflight(env: HypervEnv): Promise<void> {
  if (!env.runner) {
    throw new PreflightError('the hyperv provider runs on Windows with Hyper-V: on this machine use --provider netns (plan --provider hyperv works anywhere)');
  }
  const { cfg, lab } = env;
  const files = [cfg.ubuntuIso, cfg.windowsIso, cfg.windowsBase].filter((f): f is string => Boolean(f));
  const macs = lab.spec.machines.map((m) => machinePaths(cfg, m).mac);
  let facts: HostFacts;
  try {
    facts = await invoke<HostFacts>(env, { script: 'hyperv/preflight.ps1', params: { VmPath: cfg.vmPath, LabRoot: cfg.labRoot, Files: files, MacAddresses: macs } });
  } catch (err) {
    const message = errorMessage(err);
    // a refused script never writes its answer: PowerShell's own error is in what the
    // session printed (the error's details)
    const said = [message, ...(err instanceof LabctlError ? err.details : [])];
    const refusal = said.find((line) => isExecutionPolicyError(line));
    if (refusal) {
      // the first script labctl runs is refused: an execution policy of Group Policy, which
      // -ExecutionPolicy Bypass cannot override
      throw new PreflightError(
        `Windows PowerShell refuses to run labctl's scripts: an execution policy set by Group Policy (MachinePolicy or UserPolicy scope) overrides the -ExecutionPolicy Bypass labctl starts PowerShell with: ${POLICY_FIX}`,
        [refusal.trim()],
      );
    }
    throw new PreflightError(`cannot ask Windows PowerShell about this host: ${message}`);
  }
  const problems = preflightProblems(facts, lab.spec, cfg, lab.store.resources());
  if (problems.length > 0) throw new PreflightError(problems[0]!, problems.slice(1));
}
