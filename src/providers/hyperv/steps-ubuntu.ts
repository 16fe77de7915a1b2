import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Step, StepContext } from '../../engine/step.js';
import type { MachineSpec } from '../../spec/types.js';
import { generateSshKeyPair } from '../../transports/ssh.js';
import { OperationError } from '../../util/errors.js';
import { ensureLabClientKey, hostKeyFact } from '../lab-keys.js';
import { UBUNTU_USER, machinePaths } from './config.js';
import { guestNetwork } from './guest-network.js';
import { consoleFile, ensureConsoleTap, getVm, invoke, localFile, machineStepId, scriptStep, stopConsoleTap, type HypervEnv } from './env.js';
import { ownerTag } from './names.js';
import { call, noteMark, type VmFacts } from './scripts.js';
import { buildSeedIso, type SeedInput } from './seed.js';
import { LAB_STEPS } from './steps-lab.js';
import { vmDiagnosis, waitForPhase } from './wait.js';
import { fromGolden, goldenEnabled, GOLDEN_STEP } from './golden.js';
import { proxyFromEnv } from '../../util/proxy.js';

export const installStartedFact = (machine: string) => `hyperv:install-started:${machine}`;
export const hostKeySecret = (machine: string) => `hyperv-host-${machine}-ed25519`;

/**
 * An Ubuntu VM from the live-server ISO: VM, disk, seed disc, installer disc, firmware, then
 * three waits, each with its own timeout and diagnosis: the installer runs and powers off;
 * the installed system boots (heartbeat); SSH answers with the host key labctl put in the seed.
 */
export function ubuntuSteps(env: HypervEnv, m: MachineSpec): Step[] {
  const { cfg, lab } = env;
  const { store } = lab;
  const p = machinePaths(cfg, m);
  const id = machineStepId(m);
  const localSeed = localFile(env, m, 'seed-cidata.iso');
  const installed = () => store.isStepDone(id('install'));
  // a VM over the golden disk has none of the install's steps (src/providers/hyperv/golden.ts)
  const golden = () => fromGolden(env);
  const vm = () => getVm(env, m);

  const steps: Step[] = [
    vmStep(env, m),
    scriptStep(env, {
      id: id('disk'),
      title: `${m.name}: new dynamic disk ${p.osDisk}`,
      machine: m.name,
      deps: [id('vm'), ...(goldenEnabled(env) ? [GOLDEN_STEP] : [])],
      call: call.newDisk(cfg, m),
      skipIf: async () => golden(),
      check: async () => ((await vm()).disks ?? []).includes(p.osDisk),
      before: (ctx) => ctx.record({ kind: 'hyperv-disk', id: p.osDisk, machine: m.name }),
    }),
    scriptStep(env, {
      id: id('seed'),
      title: `${m.name}: autoinstall seed disc (NoCloud, CIDATA) ${p.seedIso}`,
      machine: m.name,
      deps: [id('vm'), LAB_STEPS.sshKey, ...(cfg.dns ? [] : [LAB_STEPS.dns])],
      call: call.attachSeed(cfg, m, localSeed),
      localCheck: () => golden() || installed(),
      check: async () => ((await vm()).dvds ?? []).includes(p.seedIso),
      before: (ctx) => {
        writeSeed(env, m, localSeed);
        ctx.record({ kind: 'hyperv-file', id: p.seedIso, machine: m.name });
      },
    }),
    scriptStep(env, {
      id: id('installer'),
      title: `${m.name}: Ubuntu installer disc ${cfg.ubuntuIso}`,
      machine: m.name,
      deps: [id('vm')],
      call: call.attachInstaller(cfg, m),
      localCheck: () => golden() || installed(),
      check: async () => ((await vm()).dvds ?? []).includes(cfg.ubuntuIso ?? ''),
    }),
    scriptStep(env, {
      id: id('firmware'),
      title: `${m.name}: Secure Boot (MicrosoftUEFICertificateAuthority), first boot from the installer disc`,
      machine: m.name,
      deps: [id('disk'), id('seed'), id('installer')],
      call: call.firmware(cfg, m),
      localCheck: () => golden() || installed(),
      check: async () => {
        const fw = (await vm()).firmware;
        return fw?.secureBoot === 'On' && fw.template === 'MicrosoftUEFICertificateAuthority' && fw.firstBoot?.path === cfg.ubuntuIso;
      },
    }),
    scriptStep(env, {
      id: id('install'),
      title: `${m.name}: start; unattended install until the installer powers off (timeout ${Math.round(cfg.timeouts.installMs / 60000)} min)`,
      machine: m.name,
      deps: [id('firmware'), ...(cfg.nat ? [LAB_STEPS.nat] : [LAB_STEPS.hostIp])],
      call: call.startVm(cfg, m),
      // started in an earlier run and powered off since: the install is over, and starting
      // the VM again would boot the installer disc a second time
      skipIf: async (ctx) => {
        if (golden()) return true;
        const over = Boolean(store.fact(installStartedFact(m.name))) && (await vm()).state === 'Off';
        if (over) ctx.log('the installer ran in an earlier run and has powered the VM off');
        return over;
      },
      before: () => ensureConsoleTap(env, m, p.pipe),
      after: async (_result, ctx) => {
        if (!store.fact(installStartedFact(m.name))) store.setFact(installStartedFact(m.name), new Date().toISOString());
        await waitForPhase(
          {
            machine: m.name,
            name: 'installing',
            goal: 'the Ubuntu installer finished and powered the VM off',
            timeoutMs: cfg.timeouts.installMs,
            intervalMs: env.pollMs.install,
            poll: async () => {
              const now = await vm();
              if (!now.exists) throw new OperationError(`${m.name}: VM ${p.vm} disappeared during the install`);
              if (now.state === 'Off') return { done: true };
              return { done: false, seen: `VM ${now.state}, heartbeat ${now.heartbeat || 'unknown'}` };
            },
            diagnose: async (seen) => vmDiagnosis(await vm().catch(() => undefined), consoleFile(env, m), seen),
          },
          env.clock,
          (t) => ctx.progress(t),
        );
      },
    }),
  ];

  steps.push(
    scriptStep(env, {
      id: id('boot'),
      title: `${m.name}: discs out, boot the installed system, wait for its heartbeat (timeout ${Math.round(cfg.timeouts.bootMs / 60000)} min)`,
      machine: m.name,
      deps: [id('install'), ...(goldenEnabled(env) ? [id('personalize')] : [])],
      call: call.finishInstall(cfg, m),
      check: async () => {
        const now = await vm();
        // not the first boot entry: the installed system registers its own loader ahead of the disk
        const discs = (now.dvds ?? []).filter((d) => d === p.seedIso || d === cfg.ubuntuIso);
        return now.state === 'Running' && /^Ok/.test(now.heartbeat ?? '') && discs.length === 0;
      },
      before: () => ensureConsoleTap(env, m, p.pipe),
      after: async (_result, ctx) => {
        // the seed holds the VM's private host key: it has served its purpose
        rmSync(localSeed, { force: true });
        await waitForPhase(
          {
            machine: m.name,
            name: 'rebooted',
            goal: 'the installed system booted and Hyper-V saw its heartbeat',
            timeoutMs: cfg.timeouts.bootMs,
            intervalMs: env.pollMs.boot,
            poll: async () => heartbeatPoll(await vm(), m),
            diagnose: async (seen) =>
              vmDiagnosis(await vm().catch(() => undefined), consoleFile(env, m), seen, [
                'if the install did not really finish (the VM was turned off by hand), run labctl teardown and labctl create again',
              ]),
          },
          env.clock,
          (t) => ctx.progress(t),
        );
      },
    }),
    {
      id: id('ssh'),
      title: `${m.name}: SSH ${UBUNTU_USER}@${m.ip} answers with the pinned host key (timeout ${Math.round(cfg.timeouts.readyMs / 60000)} min)`,
      machine: m.name,
      deps: [id('boot'), LAB_STEPS.sshKey],
      describe: () => ({ command: `ssh -i <lab key> ${UBUNTU_USER}@${m.ip} true  # host key must equal fact ${hostKeyFact(m.name)}` }),
      ...(env.runner
        ? {
            check: async () => {
              const ok = (await env.sshProbe(m, 5000)).ok;
              // the machine is reachable: its console has nothing more to tell
              if (ok) stopConsoleTap(env, m);
              return ok;
            },
          }
        : {}),
      apply: async (ctx: StepContext) => {
        ensureConsoleTap(env, m, p.pipe);
        try {
          await waitForPhase(
            {
              machine: m.name,
              name: 'ssh',
              goal: `SSH on ${m.ip} answered with the host key labctl recorded`,
              timeoutMs: cfg.timeouts.readyMs,
              intervalMs: env.pollMs.ready,
              poll: async () => {
                const r = await env.sshProbe(m, 8000);
                return r.ok ? { done: true } : { done: false, seen: r.reason };
              },
              diagnose: async (seen) => vmDiagnosis(await vm().catch(() => undefined), consoleFile(env, m), seen, sshHints(seen)),
            },
            env.clock,
            (t) => ctx.progress(t),
          );
        } finally {
          stopConsoleTap(env, m);
        }
      },
    },
  );
  return steps;
}

export function heartbeatPoll(now: VmFacts, m: MachineSpec): { done: boolean; seen?: string } {
  if (!now.exists) throw new OperationError(`${m.name}: the VM disappeared`);
  if (now.state === 'Off') throw new OperationError(`${m.name}: the VM turned off while booting`, [`heartbeat was ${now.heartbeat || 'unknown'}`]);
  if (now.state === 'Running' && /^Ok/.test(now.heartbeat ?? '')) return { done: true };
  return { done: false, seen: `VM ${now.state}, heartbeat ${now.heartbeat || 'unknown'}` };
}


function sshHints(seen: string | undefined): string[] {
  if (!seen) return [];
  if (/host key/.test(seen)) {
    return ['hint: something answers on that address with another host key: the installer live system, or another machine with the same address'];
  }
  if (/ECONNREFUSED/.test(seen)) return ['hint: the address answers but nothing listens on port 22 yet (cloud-init may still be running)'];
  if (/ETIMEDOUT|EHOSTUNREACH|Timed out/i.test(seen)) return ['hint: nothing answers on that address: check the static address (netplan) and the lab switch'];
  if (/authentication/i.test(seen)) return ['hint: sshd refused the lab key: cloud-init did not create the user (see the console)'];
  return [];
}

/** Writes the seed disc for the machine on this side, with a host key generated once and kept. */
function writeSeed(env: HypervEnv, m: MachineSpec, file: string): void {
  writeSeedFile(file, buildSeedIso(seedInput(env, m)));
}

/** What a machine's seed holds (autoinstall or golden-disk boot alike); records its pinned host key. */
export function seedInput(env: HypervEnv, m: MachineSpec): SeedInput {
  const { store, spec } = env.lab;
  const secret = hostKeySecret(m.name);
  let hostKey: { privateKey: string; publicKey: string };
  if (store.secrets.has(secret) && store.secrets.has(`${secret}.pub`)) {
    hostKey = { privateKey: store.secrets.read(secret), publicKey: store.secrets.read(`${secret}.pub`) };
  } else {
    hostKey = generateSshKeyPair(`${m.name}.${spec.name}`);
    store.secrets.write(secret, hostKey.privateKey);
    store.secrets.write(`${secret}.pub`, hostKey.publicKey.trim() + '\n');
  }
  store.setFact(hostKeyFact(m.name), hostKey.publicKey.trim());
  return {
    ...guestNetwork(env, m),
    user: UBUNTU_USER,
    authorizedKey: ensureLabClientKey(store).publicKey,
    hostKey,
    proxy: proxyFromEnv(),
    cidr: spec.network.cidr,
  };
}

/** The seed holds the VM's private host key: private to this user from the first byte. */
export function writeSeedFile(file: string, iso: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, iso, { mode: 0o600 });
}

/** The VM itself; creating a new one forgets the machine's later steps, so they are redone for it. */
export function vmStep(env: HypervEnv, m: MachineSpec): Step {
  const { cfg, lab } = env;
  const id = machineStepId(m);
  const p = machinePaths(cfg, m);
  const tag = ownerTag(cfg.lab, m.name);
  const recorded = () => lab.store.resources().some((r) => r.kind === 'hyperv-vm' && r.id === p.vm);
  const step = scriptStep(env, {
    id: id('vm'),
    title: `${m.name}: VM ${p.vm} (Generation 2, ${m.cpus} CPU, ${Math.round(m.memoryBytes / 2 ** 20)} MB, MAC ${p.mac})`,
    machine: m.name,
    deps: [LAB_STEPS.folder, LAB_STEPS.switch],
    call: call.newVm(cfg, m, false),
    check: async () => {
      const now = await getVm(env, m);
      return now.exists && now.count === 1 && noteMark(now.notes) === tag;
    },
  });
  return {
    ...step,
    apply: async (ctx) => {
      const adopt = recorded();
      ctx.record({ kind: 'hyperv-vm', id: p.vm, machine: m.name, data: { tag } });
      const result = await invoke<{ created: boolean; id: string }>(env, call.newVm(cfg, m, adopt), ctx);
      if (result.created) {
        const prefix = id('');
        lab.store.forgetSteps((s) => s.startsWith(prefix) && s !== id('vm'));
        for (const fact of [installStartedFact(m.name)]) if (lab.store.fact(fact) !== undefined) lab.store.setFact(fact, undefined);
      }
    },
  };
}
