import type { Step } from '../../engine/step.js';
import { OperationError } from '../../util/errors.js';
import { ensureLabClientKey } from '../lab-keys.js';
import { DNS_FACT } from './config.js';
import { invoke, scriptStep, type HypervEnv } from './env.js';
import { ownerTag } from './names.js';
import { call, noteMark, type NetworkFacts } from './scripts.js';

/** Steps that mount a virtual disk on the host take this key (Step.exclusive): one at a time. */
export const MOUNT_EXCLUSIVE = 'hyperv:mount';

export const LAB_STEPS = {
  sshKey: 'lab:ssh-key',
  dns: 'hyperv:dns',
  folder: 'hyperv:lab-folder',
  switch: 'hyperv:net:switch',
  hostIp: 'hyperv:net:host-ip',
  nat: 'hyperv:net:nat',
  windowsBase: 'hyperv:image:windows-base',
} as const;

/** Steps every machine builds on: keys, DNS, the lab's folder, switch, gateway, NAT, base image. */
export function labSteps(env: HypervEnv): Step[] {
  const { cfg, lab } = env;
  const { spec, store } = lab;
  const gateway = spec.network.gateway;
  const prefix = spec.network.prefix;
  const network = () => invoke<NetworkFacts>(env, call.getNetwork(cfg, gateway, prefix));

  const steps: Step[] = [
    {
      id: LAB_STEPS.sshKey,
      title: 'lab SSH key',
      check: async () => store.secrets.has('ssh_client_ed25519'),
      apply: async () => {
        ensureLabClientKey(store);
      },
    },
  ];

  if (!cfg.dns) {
    steps.push(
      scriptStep(env, {
        id: LAB_STEPS.dns,
        title: "DNS servers for the VMs: the host's own",
        call: call.hostDns(cfg),
        localCheck: () => Array.isArray(store.fact(DNS_FACT)),
        after: (result) => {
          const servers = (result as { servers?: string[] }).servers ?? [];
          if (servers.length === 0) {
            throw new OperationError('the host has no IPv4 DNS server on a connected adapter: give the VMs some with hyperv.dns in the spec');
          }
          store.setFact(DNS_FACT, servers);
        },
      }),
    );
  }

  steps.push(
    scriptStep(env, {
      id: LAB_STEPS.folder,
      title: `lab folder ${cfg.labRoot}`,
      call: call.newDir(cfg.labRoot),
      check: async () => Boolean((await invoke<{ exists: boolean; folder?: boolean }>(env, call.getPath(cfg.labRoot))).folder),
      before: (ctx) => ctx.record({ kind: 'hyperv-dir', id: cfg.labRoot }),
    }),
    scriptStep(env, {
      id: LAB_STEPS.switch,
      title: `Internal switch ${cfg.switchName}`,
      call: call.netSwitch(cfg),
      check: async () => noteMark((await network()).switch?.notes) === ownerTag(cfg.lab),
      before: (ctx) => ctx.record({ kind: 'hyperv-switch', id: cfg.switchName, data: { tag: ownerTag(cfg.lab) } }),
    }),
    scriptStep(env, {
      id: LAB_STEPS.hostIp,
      title: `host address ${gateway}/${prefix} on ${cfg.switchName} (the lab's gateway)`,
      deps: [LAB_STEPS.switch],
      call: call.netHostIp(cfg, gateway, prefix),
      check: async () => Boolean((await network()).hostAddress?.present),
      before: (ctx) => ctx.record({ kind: 'hyperv-host-ip', id: `${cfg.switchName}/${gateway}`, data: { switch: cfg.switchName, ip: gateway } }),
    }),
  );

  if (cfg.nat) {
    steps.push(
      scriptStep(env, {
        id: LAB_STEPS.nat,
        title: `NAT ${cfg.natName} for ${spec.network.cidr}`,
        deps: [LAB_STEPS.hostIp],
        call: call.netNat(cfg, spec.network.cidr),
        check: async () => (await network()).nat?.prefix === spec.network.cidr,
        before: (ctx) => ctx.record({ kind: 'hyperv-nat', id: cfg.natName, data: { prefix: spec.network.cidr } }),
      }),
    );
  }

  if (cfg.windowsIso && cfg.windowsBase && spec.machines.some((m) => m.os === 'windows')) {
    steps.push(
      scriptStep(env, {
        id: LAB_STEPS.windowsBase,
        exclusive: MOUNT_EXCLUSIVE,
        title: `Windows base disk from ${cfg.windowsIso} (image ${cfg.windowsImageIndex}), cached as ${cfg.windowsBase}`,
        call: call.buildWindowsBase(cfg),
        // applying install.wim takes minutes on a fast disk
        timeoutMs: 90 * 60_000,
        check: async () => {
          const r = await invoke<{ exists: boolean; matches: boolean; reason?: string }>(env, call.testWindowsBase(cfg));
          if (r.exists && !r.matches) {
            throw new OperationError(
              `the cached Windows base ${cfg.windowsBase} does not match ${cfg.windowsIso}: ${r.reason}; other labs may use it, so labctl will not rebuild it: set hyperv.imageCache to another folder, or remove the cached file when no lab uses it`,
            );
          }
          return r.exists;
        },
      }),
    );
  }
  return steps;
}
