import type { Step } from '../../engine/step.js';
import type { TeardownPlan } from '../../engine/teardown.js';
import type { LabSpec, MachineSpec } from '../../spec/types.js';
import { powerShellRunner, powershellExecutable, type PowerShellRunner } from '../../transports/powershell.js';
import { SshTransport } from '../../transports/ssh.js';
import { OperationError, PreflightError, errorMessage } from '../../util/errors.js';
import { ensureLabClientKey, hostKeyFact, labClientKeyExists } from '../lab-keys.js';
import type { GuestShell, LabContext, LivingOps, MachineAccess, MachineStatus, Provider } from '../provider.js';
import { hypervLiving } from './living.js';
import { interactiveGuestShell, PowerShellDirectTransport } from './guest-shell.js';
import { UBUNTU_USER, hypervConfig } from './config.js';
import { pipeConsoleTap, type ConsoleTap, type ConsoleTapFactory } from './console.js';
import { getVm, invoke, type HypervEnv, type SshProbeResult } from './env.js';
import { hypervPreflight } from './preflight.js';
import { call, describeCall } from './scripts.js';
import { labSteps } from './steps-lab.js';
import { goldenEnabled, goldenLabStep, goldenMachineSteps } from './golden.js';
import { ubuntuSteps } from './steps-ubuntu.js';
import { windowsSteps } from './steps-windows.js';
import { hypervLeftovers, hypervTeardownPlan } from './teardown.js';
import { validateHyperv } from './validate.js';
import { guestChannel } from './guest.js';
import { realClock, type Clock } from './wait.js';
import { MANAGEMENT_PORT, webWindowsSteps, type HostChannel } from '../../roles/web-windows/index.js';
import { ensurePackage, webPackagesFor, type WebPackage } from '../../roles/web-windows/packages.js';
import type { AppBundle } from '../../roles/web-linux/bundle.js';

export interface HypervDeps {
  /** the PowerShell runner; default: a PowerShell session on Windows, none elsewhere */
  runner?: PowerShellRunner;
  clock?: Clock;
  pollMs?: Partial<HypervEnv['pollMs']>;
  sshProbe?: (lab: LabContext, m: MachineSpec, timeoutMs: number) => Promise<SshProbeResult>;
  consoleTap?: ConsoleTapFactory;
  platform?: NodeJS.Platform;
  /** the web role's installers (default: the pinned list) */
  webPackages?: WebPackage[];
  appBundle?: () => Promise<AppBundle>;
  webHealth?: (m: MachineSpec) => Promise<string | undefined>;
}

/**
 * Hyper-V on a Windows host. Every host operation is a script under templates/hyperv run
 * through a few long-lived PowerShell sessions; on another OS there is no PowerShell and the
 * provider can still validate a spec and plan (steps without live checks).
 */
export class HypervProvider implements Provider {
  readonly name = 'hyperv' as const;
  private runnerInstance: PowerShellRunner | undefined;
  private readonly taps = new Map<string, ConsoleTap>();

  constructor(private readonly deps: HypervDeps = {}) {}

  private runner(): PowerShellRunner | undefined {
    if (this.deps.runner) return this.deps.runner;
    const executable = powershellExecutable(this.deps.platform ?? process.platform);
    if (!executable) return undefined;
    this.runnerInstance ??= powerShellRunner(executable);
    return this.runnerInstance;
  }

  env(lab: LabContext): HypervEnv {
    const cfg = hypervConfig(lab.spec);
    const poll = cfg.timeouts.pollMs;
    return {
      lab,
      cfg,
      runner: this.runner(),
      clock: this.deps.clock ?? realClock,
      pollMs: { install: poll ?? 15_000, boot: poll ?? 5_000, ready: poll ?? 5_000, ...this.deps.pollMs },
      sshProbe: (m, timeoutMs) => (this.deps.sshProbe ?? probeSsh)(lab, m, timeoutMs),
      consoleTap: this.deps.consoleTap ?? pipeConsoleTap,
      taps: this.taps,
    };
  }

  validate(spec: LabSpec) {
    return validateHyperv(spec);
  }

  preflight(lab: LabContext): Promise<void> {
    return hypervPreflight(this.env(lab));
  }

  createSteps(lab: LabContext): Step[] {
    const env = this.env(lab);
    const steps = labSteps(env);
    const golden = goldenEnabled(env);
    if (golden) steps.push(goldenLabStep(env));
    for (const m of lab.spec.machines) {
      steps.push(...(m.os === 'ubuntu' ? ubuntuSteps(env, m) : windowsSteps(env, m)));
      if (m.os === 'ubuntu' && golden) {
        const g = goldenMachineSteps(env, m, () => connectUbuntu(lab, m));
        steps.push(g.childDisk, g.personalize, g.make);
      }
    }
    return steps;
  }

  async status(lab: LabContext): Promise<MachineStatus[]> {
    const env = this.env(lab);
    return Promise.all(
      lab.spec.machines.map(async (m): Promise<MachineStatus> => {
        const base = { name: m.name, role: m.role, os: m.os, address: m.ip };
        if (!env.runner) return { ...base, state: 'missing', detail: 'unknown: Hyper-V is only reachable from its Windows host' };
        try {
          const vm = await getVm(env, m);
          if (!vm.exists) return { ...base, state: 'missing' };
          const state = vm.state === 'Running' ? 'running' : 'stopped';
          return { ...base, state, detail: `${vm.state}, heartbeat ${vm.heartbeat || 'unknown'}` };
        } catch (err) {
          return { ...base, state: 'missing', detail: `cannot ask Hyper-V: ${errorMessage(err)}` };
        }
      }),
    );
  }

  access(lab: LabContext, machine: MachineSpec): MachineAccess {
    if (machine.os === 'windows') {
      throw new OperationError(`${machine.name} runs Windows: labctl reaches it through PowerShell Direct (labctl ssh ${machine.name}), not SSH`);
    }
    const env = this.env(lab);
    return {
      machine,
      connect: () => connectUbuntu(lab, machine),
      root: '',
      nodeBinary: '/usr/bin/node',
      services: 'systemd',
      firewall: 'ufw',
      offline: false,
      standIn: false,
      asRoot: (command) => `sudo -n ${command}`,
      guardRoute: () => guardRoute(env, machine.ip),
    };
  }

  guestShell(lab: LabContext, machine: MachineSpec): GuestShell | undefined {
    if (machine.os !== 'windows') return undefined;
    const env = this.env(lab);
    return { transport: () => new PowerShellDirectTransport(env, machine), interactive: () => interactiveGuestShell(env, machine) };
  }

  /** Windows web machines get the IIS + iisnode role over PowerShell Direct; Ubuntu ones the Linux role. */
  webSteps(lab: LabContext, machine: MachineSpec, redisServiceStep: string): Step[] | undefined {
    if (machine.os !== 'windows') return undefined;
    const env = this.env(lab);
    // no dependency on the create steps here: `deploy` runs these alone, after checking the lab is up
    return webWindowsSteps({
      lab,
      machine,
      guest: guestChannel(env, machine),
      host: hostChannel(env),
      redisServiceStep,
      packages: this.deps.webPackages ?? webPackagesFor(lab.spec),
      bundle: this.deps.appBundle,
      health: this.deps.webHealth ? () => this.deps.webHealth!(machine) : undefined,
      guardRoute: () => guardRoute(env, machine.ip),
      sleep: (ms) => env.clock.sleep(ms),
    });
  }

  guardRoute(lab: LabContext, machine: MachineSpec): Promise<void> {
    return guardRoute(this.env(lab), machine.ip);
  }

  /**
   * Publishing with Web Deploy runs msdeploy.exe on this host: without it, deploy stops before
   * it changes anything, saying how to install it (the Web Deploy MSI labctl caches for the VMs,
   * its MSDeployFeature only: the command line, no services) or how to do without it.
   */
  async deployPreflight(lab: LabContext, machines: MachineSpec[]): Promise<void> {
    const webs = machines.filter((m) => m.os === 'windows' && m.role === 'web');
    if (webs.length === 0 || (lab.spec.hyperv?.publish ?? 'webdeploy') !== 'webdeploy') return;
    const env = this.env(lab);
    const found = await invoke<{ path: string; found: boolean }>(env, { script: 'hyperv/find-msdeploy.ps1', params: {} });
    if (found.found) return;
    const wd = (this.deps.webPackages ?? webPackagesFor(lab.spec)).find((p) => p.id === 'webdeploy');
    let msi = '<the Web Deploy MSI>';
    if (wd) {
      try {
        msi = await ensurePackage(lab.home, wd);
      } catch (err) {
        msi = `${wd.url} (labctl could not fetch it: ${errorMessage(err)})`;
      }
    }
    throw new PreflightError(
      `Web Deploy is not installed on this host (no ${found.path}): install it (elevated) with  msiexec /i "${msi}" ADDLOCAL=MSDeployFeature /qn /norestart  or set hyperv.publish: copy in the spec to copy the app in over PowerShell Direct`,
    );
  }

  webManagementUrl(_lab: LabContext, machine: MachineSpec): string | undefined {
    return machine.os === 'windows' && machine.role === 'web' ? `https://${machine.ip}:${MANAGEMENT_PORT}/msdeploy.axd` : undefined;
  }

  /** stop/start, checkpoints and logs: src/providers/hyperv/living.ts */
  living(lab: LabContext): LivingOps {
    return hypervLiving(this.env(lab), (m) => this.access(lab, m), (m) => this.guestShell(lab, m));
  }

  teardownPlan(lab: LabContext): TeardownPlan {
    return hypervTeardownPlan(this.env(lab));
  }

  leftovers(lab: LabContext): Promise<string[]> {
    return hypervLeftovers(this.env(lab));
  }
}

/** Host scripts for the web role (Web Deploy publishes from the host), each through the runner like every host operation. */
function hostChannel(env: HypervEnv): HostChannel {
  return {
    run: <T>(script: string, params: Record<string, unknown>) => invoke<T>(env, { script, params }, undefined, 30 * 60_000),
    describe: (script, params) => describeCall({ script, params }),
  };
}

/** labctl sends nothing to a lab address unless the host routes it through the lab's own switch. */
async function guardRoute(env: HypervEnv, ip: string): Promise<void> {
  const r = await invoke<{ viaLab: boolean; alias: string }>(env, call.findRoute(env.cfg, ip));
  if (!r.viaLab) {
    throw new OperationError(`${ip} is not reached through the lab switch ${env.cfg.switchName} (the host routes it via ${r.alias || 'nothing'}): is the lab created?`);
  }
}

async function connectUbuntu(lab: LabContext, m: MachineSpec, timeoutMs = 8000): Promise<SshTransport> {
  const hostKey = lab.store.fact<string>(hostKeyFact(m.name));
  if (!hostKey || !labClientKeyExists(lab.store)) throw new OperationError(`${m.name} has no recorded host key: run labctl create first`);
  return SshTransport.connect(
    { name: m.name, host: m.ip, username: UBUNTU_USER, privateKey: ensureLabClientKey(lab.store).privateKey, hostKey },
    timeoutMs,
  );
}

async function probeSsh(lab: LabContext, m: MachineSpec, timeoutMs: number): Promise<SshProbeResult> {
  try {
    const t = await connectUbuntu(lab, m, timeoutMs);
    try {
      await t.run('true', { timeoutMs });
    } finally {
      await t.close();
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
}
