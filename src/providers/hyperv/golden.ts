import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Step, StepContext } from '../../engine/step.js';
import type { MachineSpec } from '../../spec/types.js';
import type { Transport } from '../../transports/transport.js';
import { OperationError } from '../../util/errors.js';
import { templatePath } from '../../util/template.js';
import { runScript } from '../../roles/script.js';
import { machinePaths, type HypervConfig } from './config.js';
import { getVm, invoke, localFile, machineStepId, type HypervEnv } from './env.js';
import { winJoin } from './names.js';
import { call, describeCall, type ScriptCall } from './scripts.js';
import { buildBootSeedIso } from './seed.js';
import { LAB_STEPS } from './steps-lab.js';
import { heartbeatPoll, seedInput, writeSeedFile } from './steps-ubuntu.js';
import { waitForPhase } from './wait.js';

/**
 * The Ubuntu golden disk: after the first unattended install on a host, that VM is generalized
 * (templates/hyperv/ubuntu-generalize.sh) and its disk kept read-only in the image cache; later
 * Ubuntu VMs get a differencing disk over it and a NoCloud seed of their own (new instance-id,
 * hostname, user, keys, address), so they are ready after one boot instead of a reinstall.
 * The key is what decides the disk's content: the ISO's sha256 and the templates that shape the
 * install and the generalization.
 */
export const GOLDEN_FACT = 'hyperv:ubuntu-golden';
export const GOLDEN_STEP = 'hyperv:image:ubuntu-golden';
/** bumped when what labctl does to make a golden disk changes in a way its files do not show */
const RECIPE_VERSION = 'golden-1';

export interface GoldenDecision {
  key: string;
  path: string;
  isoSha256: string;
  /** the golden disk existed when this lab was created: its Ubuntu VMs start from it */
  present: boolean;
  /** when absent: the Ubuntu machine whose install becomes the golden disk */
  maker?: string;
}

/** sha256 of the files that shape an installed-and-generalized disk, in a stable order. */
export function goldenRecipeSha256(): string {
  const h = createHash('sha256').update(RECIPE_VERSION + '\n');
  const files = [
    ...readdirSync(templatePath('hyperv/autoinstall'))
      .sort()
      .map((f) => `hyperv/autoinstall/${f}`),
    'hyperv/ubuntu-generalize.sh',
  ];
  for (const f of files) h.update(`${f}\n`).update(readFileSync(templatePath(f))).update('\n');
  return h.digest('hex');
}

export function goldenKey(isoSha256: string, recipeSha256 = goldenRecipeSha256()): string {
  return createHash('sha256').update(`${isoSha256}\n${recipeSha256}\n`).digest('hex').slice(0, 16);
}

export function goldenPath(cfg: HypervConfig, key: string): string {
  return winJoin(cfg.cacheDir, `ubuntu-golden-${key}.vhdx`);
}

export const goldenCalls = {
  fileHash: (path: string): ScriptCall => ({ script: 'hyperv/file-hash.ps1', params: { Path: path } }),
  save: (cfg: HypervConfig, m: MachineSpec, golden: string, note: string): ScriptCall => ({
    script: 'hyperv/golden-save.ps1',
    params: { VMName: machinePaths(cfg, m).vm, DiskPath: machinePaths(cfg, m).osDisk, GoldenPath: golden, Note: note },
  }),
  cache: (cfg: HypervConfig, remove: string[] = []): ScriptCall => ({
    script: 'hyperv/golden-cache.ps1',
    params: { CacheDir: cfg.cacheDir, ...(remove.length ? { Remove: remove } : {}) },
  }),
  childDisk: (cfg: HypervConfig, m: MachineSpec, golden: string): ScriptCall => ({
    script: 'hyperv/new-disk.ps1',
    params: { VMName: machinePaths(cfg, m).vm, Path: machinePaths(cfg, m).osDisk, ParentPath: golden },
  }),
  bootFromDisk: (cfg: HypervConfig, m: MachineSpec): ScriptCall => ({
    script: 'hyperv/set-firmware.ps1',
    params: { VMName: machinePaths(cfg, m).vm, SecureBootTemplate: 'MicrosoftUEFICertificateAuthority', FirstBootPath: machinePaths(cfg, m).osDisk },
  }),
  stopVm: (cfg: HypervConfig, m: MachineSpec): ScriptCall => ({ script: 'hyperv/stop-vm.ps1', params: { VMName: machinePaths(cfg, m).vm } }),
};

export function goldenDecision(env: HypervEnv): GoldenDecision | undefined {
  return env.lab.store.fact<GoldenDecision>(GOLDEN_FACT);
}

/** The lab's Ubuntu VMs start from the golden disk (it existed when the lab was created). */
export function fromGolden(env: HypervEnv): boolean {
  return Boolean(goldenDecision(env)?.present);
}

/**
 * Once per lab: the key (the ISO hashed on the host), and whether the golden disk is there.
 * Decided once and kept, so a resumed create takes the same path as the run it resumes.
 */
export function goldenLabStep(env: HypervEnv): Step {
  const { cfg, lab } = env;
  const ubuntu = lab.spec.machines.filter((m) => m.os === 'ubuntu');
  return {
    id: GOLDEN_STEP,
    title: `Ubuntu golden disk in ${cfg.cacheDir}: key from the sha256 of ${cfg.ubuntuIso} and the install templates`,
    deps: [LAB_STEPS.folder],
    describe: () => describeCall(goldenCalls.fileHash(cfg.ubuntuIso ?? '')),
    // no PowerShell here (plan on Linux): nothing can be known about the host's cache
    ...(env.runner ? { check: async () => goldenDecision(env) !== undefined } : {}),
    apply: async (ctx) => {
      ctx.progress(`sha256 of ${cfg.ubuntuIso}`);
      const iso = await invoke<{ sha256: string }>(env, goldenCalls.fileHash(cfg.ubuntuIso ?? ''), ctx, 10 * 60_000);
      const key = goldenKey(iso.sha256);
      const path = goldenPath(cfg, key);
      const found = await invoke<{ exists: boolean }>(env, call.getPath(path), ctx);
      const decision: GoldenDecision = { key, path, isoSha256: iso.sha256, present: found.exists, ...(found.exists ? {} : { maker: ubuntu[0]?.name }) };
      lab.store.setFact(GOLDEN_FACT, decision);
      ctx.log(found.exists ? `golden disk ${path}: the Ubuntu VMs start from it` : `no golden disk ${path} yet: ${decision.maker} installs, then becomes it`);
      return { key, present: found.exists };
    },
  };
}

export interface GoldenMachineSteps {
  /** a differencing disk over the golden disk (instead of the new disk, seed, installer, install) */
  childDisk: Step;
  /** first boot with its own NoCloud seed, then the seed out and a boot from the disk */
  personalize: Step;
  /** the maker only: generalize the installed VM, keep its disk, personalize it again */
  make: Step;
}

/** `connect`: SSH to the Ubuntu VM as labctl does (pinned host key, lab key). */
export function goldenMachineSteps(env: HypervEnv, m: MachineSpec, connect: () => Promise<Transport>): GoldenMachineSteps {
  const { cfg, lab } = env;
  const p = machinePaths(cfg, m);
  const id = machineStepId(m);
  const decision = () => goldenDecision(env);
  const isMaker = () => decision()?.present === false && decision()?.maker === m.name;
  const madeFact = `hyperv:golden-made:${m.name}`;

  const childDisk: Step = {
    id: id('golden-disk'),
    title: `${m.name}: differencing disk ${p.osDisk} over the Ubuntu golden disk`,
    machine: m.name,
    deps: [id('vm'), GOLDEN_STEP],
    describe: () => describeCall(goldenCalls.childDisk(cfg, m, '<the golden disk of this ISO>')),
    ...(env.runner ? { check: async () => !fromGolden(env) || ((await getVm(env, m)).disks ?? []).includes(p.osDisk) } : {}),
    apply: async (ctx) => {
      ctx.record({ kind: 'hyperv-disk', id: p.osDisk, machine: m.name });
      await invoke(env, goldenCalls.childDisk(cfg, m, decision()!.path), ctx);
    },
  };

  const personalize: Step = {
    id: id('personalize'),
    title: `${m.name}: first boot from the golden disk with its own NoCloud seed (hostname, user, keys, address), then from its disk alone`,
    machine: m.name,
    deps: [id('golden-disk'), LAB_STEPS.sshKey, ...(cfg.nat ? [LAB_STEPS.nat] : [LAB_STEPS.hostIp])],
    describe: () => describeCall({ script: 'hyperv/attach-dvd.ps1', params: { VMName: p.vm, Path: p.seedIso, CopyFrom: '<NoCloud seed: user-data, network-config, meta-data>' } }),
    ...(env.runner ? { check: async () => !fromGolden(env) || lab.store.isStepDone(id('personalize')) } : {}),
    apply: (ctx) => firstBootFromSeed(env, m, ctx),
  };

  const make: Step = {
    id: id('golden'),
    title: `${m.name}: generalize (cloud-init clean, host keys, machine-id), keep its disk as the Ubuntu golden disk, boot it again from its own seed`,
    machine: m.name,
    deps: [id('ssh')],
    describe: () => describeCall(goldenCalls.save(cfg, m, winJoin(cfg.cacheDir, 'ubuntu-golden-<key>.vhdx'), '<what made it: key, ISO sha256, lab, machine>')),
    ...(env.runner ? { check: async () => !isMaker() || Boolean(lab.store.fact(madeFact)) } : {}),
    apply: async (ctx) => {
      const d = decision()!;
      // a run cut short after the disk moved: the VM is off on a child disk already
      const now = await getVm(env, m);
      if (now.state === 'Running') {
        ctx.progress('generalizing over SSH');
        const t = await connect();
        try {
          const r = await runScript(t, { asRoot: (c) => `sudo -n ${c}` }, 'hyperv/ubuntu-generalize.sh', [], { timeoutMs: 120_000 });
          if (r.code !== 0) throw new OperationError(`${m.name}: generalizing failed (exit ${r.code})`, (r.stdout + r.stderr).trim().split('\n').slice(-10));
        } finally {
          await t.close();
        }
        await stopAndWait(env, m, ctx);
      }
      const note = JSON.stringify({ key: d.key, isoSha256: d.isoSha256, iso: cfg.ubuntuIso, recipeSha256: goldenRecipeSha256(), lab: cfg.lab, machine: m.name, created: new Date().toISOString() });
      ctx.progress(`keeping ${p.osDisk} as ${d.path}`);
      await invoke(env, goldenCalls.save(cfg, m, d.path, note), ctx, 30 * 60_000);
      await firstBootFromSeed(env, m, ctx);
      lab.store.setFact(madeFact, d.path);
    },
  };
  return { childDisk, personalize, make };
}

/**
 * A VM on a child of the golden disk boots with a seed of its own: cloud-init sees a new
 * instance-id and applies it; SSH answering with the pinned host key says it has. Then the VM
 * is shut down, the seed (it holds the private host key) taken out and deleted, and the VM
 * boots from its disk as every Ubuntu VM of a lab does (finish-install.ps1).
 */
async function firstBootFromSeed(env: HypervEnv, m: MachineSpec, ctx: StepContext): Promise<void> {
  const { cfg } = env;
  const p = machinePaths(cfg, m);
  const local = localFile(env, m, 'seed-cidata.iso');
  try {
    // a run cut short while the VM ran with its seed: it goes on from there (firmware cannot change on a running VM)
    if ((await getVm(env, m)).state !== 'Running') {
      const instanceId = `labctl-${cfg.lab}-${m.name}-${Date.now().toString(36)}`;
      writeSeedFile(local, buildBootSeedIso(seedInput(env, m), instanceId));
      ctx.record({ kind: 'hyperv-file', id: p.seedIso, machine: m.name });
      await invoke(env, call.attachSeed(cfg, m, local), ctx);
      await invoke(env, goldenCalls.bootFromDisk(cfg, m), ctx);
      await invoke(env, call.startVm(cfg, m), ctx);
    }
    await waitForHeartbeat(env, m, ctx, 'the VM booted from the golden disk\'s child and Hyper-V saw its heartbeat');
    await waitForSsh(env, m, ctx, 'cloud-init applied the seed: SSH answers with the pinned host key');
    await stopAndWait(env, m, ctx);
    await invoke(env, call.finishInstall(cfg, m), ctx);
  } finally {
    rmSync(local, { force: true });
  }
  await waitForHeartbeat(env, m, ctx, 'the VM booted from its disk and Hyper-V saw its heartbeat');
}

async function waitForHeartbeat(env: HypervEnv, m: MachineSpec, ctx: StepContext, goal: string): Promise<void> {
  await waitForPhase(
    {
      machine: m.name,
      name: 'rebooted',
      goal,
      timeoutMs: env.cfg.timeouts.bootMs,
      intervalMs: env.pollMs.boot,
      poll: async () => heartbeatPoll(await getVm(env, m), m),
      diagnose: async (seen) => [`last seen: ${seen ?? 'nothing'}`],
    },
    env.clock,
    (t) => ctx.progress(t),
  );
}

async function waitForSsh(env: HypervEnv, m: MachineSpec, ctx: StepContext, goal: string): Promise<void> {
  await waitForPhase(
    {
      machine: m.name,
      name: 'ssh',
      goal,
      timeoutMs: env.cfg.timeouts.bootMs + env.cfg.timeouts.readyMs,
      intervalMs: env.pollMs.ready,
      poll: async () => {
        const r = await env.sshProbe(m, 8000);
        return r.ok ? { done: true } : { done: false, seen: r.reason };
      },
      diagnose: async (seen) => {
        const vm = await getVm(env, m).catch(() => undefined);
        return [`VM ${vm?.state ?? 'unknown'}, heartbeat ${vm?.heartbeat || 'unknown'}`, `last SSH attempt: ${seen ?? 'none'}`, 'hint: a golden disk that still holds the installer\'s cloud-init configuration ignores the seed'];
      },
    },
    env.clock,
    (t) => ctx.progress(t),
  );
}

/** Stop-VM without -TurnOff: the guest shuts down through its integration service. */
async function stopAndWait(env: HypervEnv, m: MachineSpec, ctx: StepContext): Promise<void> {
  await invoke(env, goldenCalls.stopVm(env.cfg, m), ctx, 10 * 60_000);
  await waitForPhase(
    {
      machine: m.name,
      name: 'shutdown',
      goal: 'the VM shut down',
      timeoutMs: env.cfg.timeouts.bootMs,
      intervalMs: env.pollMs.boot,
      poll: async () => {
        const now = await getVm(env, m);
        return now.state === 'Off' ? { done: true } : { done: false, seen: `VM ${now.state}` };
      },
      diagnose: async (seen) => [`last seen: ${seen ?? 'nothing'}`],
    },
    env.clock,
    (t) => ctx.progress(t),
  );
}

/** Golden disks are used and made unless the command said --no-cache. */
export function goldenEnabled(env: HypervEnv): boolean {
  return env.lab.imageCache !== false && Boolean(env.cfg.ubuntuIso) && env.lab.spec.machines.some((m) => m.os === 'ubuntu');
}
