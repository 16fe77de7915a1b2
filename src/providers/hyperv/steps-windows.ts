import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Step } from '../../engine/step.js';
import type { MachineSpec } from '../../spec/types.js';
import { generateWindowsPassword } from '../../state/secrets.js';
import type { LabStore } from '../../state/store.js';
import { machinePaths } from './config.js';
import { guestNetwork } from './guest-network.js';
import { getVm, invoke, localFile, machineStepId, scriptStep, type HypervEnv } from './env.js';
import { call } from './scripts.js';
import { LAB_STEPS, MOUNT_EXCLUSIVE } from './steps-lab.js';
import { heartbeatPoll, vmStep } from './steps-ubuntu.js';
import { renderUnattend } from './unattend.js';
import { vmDiagnosis, waitForPhase } from './wait.js';

export const adminPasswordSecret = (machine: string) => `hyperv-admin-${machine}`;

/**
 * The machine's administrator password: generated once, kept in the lab's secrets (0600),
 * never printed; it meets Windows' complexity rule (upper, lower, digit, symbol).
 */
export function adminPassword(store: LabStore, machine: string): string {
  return store.secrets.ensure(adminPasswordSecret(machine), () => generateWindowsPassword(24));
}

/**
 * A Windows VM from an image: a differencing disk over the base, unattend.xml injected
 * before the first boot, then two waits: the heartbeat, and PowerShell Direct answering
 * as Administrator with the generated password (Windows setup has finished).
 */
export function windowsSteps(env: HypervEnv, m: MachineSpec): Step[] {
  const { cfg, lab } = env;
  const { store, spec } = lab;
  const p = machinePaths(cfg, m);
  const id = machineStepId(m);
  const vm = () => getVm(env, m);
  const localUnattend = localFile(env, m, 'unattend.xml');
  const computerName = m.name.toUpperCase();
  // plan shows the call with the password masked; the real one is only built when it runs
  const probe = (password: string) => call.probePsDirect(cfg, m, password);

  const waitReady = scriptStep(env, {
    id: id('ready'),
    title: `${m.name}: Windows setup done, PowerShell Direct answers as ${computerName} (timeout ${Math.round(cfg.timeouts.installMs / 60000)} min)`,
    machine: m.name,
    deps: [id('boot')],
    call: probe('<secret>'),
    check: async () => {
      const r = await invoke<{ answered: boolean; computerName?: string }>(env, probe(adminPassword(store, m.name)), undefined, 180_000);
      return r.answered && r.computerName?.toUpperCase() === computerName;
    },
  });
  waitReady.apply = async (ctx) => {
    await waitForPhase(
      {
        machine: m.name,
        name: 'setup',
        goal: `Windows setup finished and PowerShell Direct answered as ${computerName}`,
        timeoutMs: cfg.timeouts.installMs,
        intervalMs: env.pollMs.ready,
        poll: async () => {
          const r = await invoke<{ answered: boolean; computerName?: string; reason?: string }>(env, probe(adminPassword(store, m.name)), ctx, 180_000);
          if (r.answered && r.computerName?.toUpperCase() === computerName) return { done: true };
          if (r.answered) return { done: false, seen: `answered as ${r.computerName}, expected ${computerName} (specialize has not renamed it yet)` };
          return { done: false, seen: `PowerShell Direct: ${r.reason ?? 'no answer'}` };
        },
        diagnose: async (seen) =>
          vmDiagnosis(await vm().catch(() => undefined), undefined, seen, [
            ...(/credential|password|logon|user name/i.test(seen ?? '')
              ? ['hint: the guest refuses the generated password: unattend.xml was not applied (is the base image generalized?); Windows writes why to C:\\Windows\\Panther\\UnattendGC\\setupact.log']
              : []),
            `hint: open the VM's console in Hyper-V Manager (vmconnect localhost ${p.vm}) to see where setup stands`,
          ]),
      },
      env.clock,
      (t) => ctx.progress(t),
    );
  };

  return [
    vmStep(env, m),
    scriptStep(env, {
      id: id('disk'),
      title: `${m.name}: differencing disk ${p.osDisk} over ${cfg.windowsBase}`,
      machine: m.name,
      deps: [id('vm'), ...(cfg.windowsIso ? [LAB_STEPS.windowsBase] : [])],
      call: call.newDisk(cfg, m),
      check: async () => ((await vm()).disks ?? []).includes(p.osDisk),
      before: (ctx) => ctx.record({ kind: 'hyperv-disk', id: p.osDisk, machine: m.name }),
    }),
    scriptStep(env, {
      id: id('unattend'),
      title: `${m.name}: unattend.xml (name ${computerName}, ${m.ip}/${spec.network.prefix} by MAC, time zone ${cfg.timeZone}) into the disk`,
      machine: m.name,
      deps: [id('disk'), ...(cfg.dns ? [] : [LAB_STEPS.dns])],
      // one disk mounted on the host at a time: the Windows VMs' differencing disks all carry
      // their base's disk signature, and Windows keeps the second one mounted offline
      exclusive: MOUNT_EXCLUSIVE,
      call: call.injectUnattend(cfg, m, localUnattend),
      // Windows reads it once, on the first boot: never again after the VM has started
      localCheck: () => store.isStepDone(id('unattend')) || store.isStepDone(id('start')),
      before: () => writeUnattend(env, m, localUnattend),
      after: () => rmSync(localUnattend, { force: true }),
    }),
    scriptStep(env, {
      id: id('firmware'),
      title: `${m.name}: Secure Boot (MicrosoftWindows), first boot from the disk`,
      machine: m.name,
      deps: [id('disk')],
      call: call.firmware(cfg, m),
      // Secure Boot cannot change while the VM runs, and once Windows has booted its own
      // boot manager entry comes first: a started VM's firmware is left as it is
      localCheck: () => store.isStepDone(id('start')),
      check: async () => {
        const fw = (await vm()).firmware;
        return fw?.secureBoot === 'On' && fw.template === 'MicrosoftWindows' && fw.firstBoot?.path === p.osDisk;
      },
    }),
    scriptStep(env, {
      id: id('start'),
      title: `${m.name}: start`,
      machine: m.name,
      deps: [id('unattend'), id('firmware'), ...(cfg.nat ? [LAB_STEPS.nat] : [LAB_STEPS.hostIp])],
      call: call.startVm(cfg, m),
      check: async () => (await vm()).state === 'Running',
    }),
    scriptStep(env, {
      id: id('boot'),
      title: `${m.name}: heartbeat (timeout ${Math.round(cfg.timeouts.bootMs / 60000)} min)`,
      machine: m.name,
      deps: [id('start')],
      call: call.getVm(cfg, m),
      check: async () => {
        const now = await vm();
        return now.state === 'Running' && /^Ok/.test(now.heartbeat ?? '');
      },
      after: async (_result, ctx) => {
        await waitForPhase(
          {
            machine: m.name,
            name: 'booting',
            goal: 'Windows booted and Hyper-V saw its heartbeat',
            timeoutMs: cfg.timeouts.bootMs,
            intervalMs: env.pollMs.boot,
            poll: async () => heartbeatPoll(await vm(), m),
            diagnose: async (seen) => vmDiagnosis(await vm().catch(() => undefined), undefined, seen),
          },
          env.clock,
          (t) => ctx.progress(t),
        );
      },
    }),
    waitReady,
  ];
}

function writeUnattend(env: HypervEnv, m: MachineSpec, file: string): void {
  const { store } = env.lab;
  const xml = renderUnattend({
    ...guestNetwork(env, m),
    timeZone: env.cfg.timeZone,
    adminPassword: adminPassword(store, m.name),
  });
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, xml, { mode: 0o600 });
}
