import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Step } from '../../engine/step.js';
import type { TeardownPlan } from '../../engine/teardown.js';
import type { LabSpec, MachineSpec } from '../../spec/types.js';
import { runHost } from '../../util/exec.js';
import type { LabContext, LivingOps, MachineAccess, MachineStatus, Provider } from '../provider.js';
import { stoppedFact, type StoppedFact } from '../../living/facts.js';
import { netnsLiving } from './living.js';
import { netnsFaults } from './faults.js';
import type { FaultOps } from '../../faults/types.js';
import { assertRoutedToLab, connectNetns } from './connect.js';
import { killAll, linkExists, listLinks, listNamespaces, namespaceExists, namespacePids, processesMentioning } from './host.js';
import { machineLayout } from './layout.js';
import { bridgeName, namespaceName, natTableName, vethName } from './names.js';
import { removeNat } from './nat.js';
import { netnsPreflight } from './preflight.js';
import { netnsCreateSteps, sshdRunning } from './steps.js';

export class NetnsProvider implements Provider {
  readonly name = 'netns' as const;

  validate(_spec: LabSpec) {
    return [];
  }

  preflight(lab: LabContext): Promise<void> {
    return netnsPreflight(lab);
  }

  createSteps(lab: LabContext): Step[] {
    return netnsCreateSteps(lab);
  }

  async status(lab: LabContext): Promise<MachineStatus[]> {
    return lab.spec.machines.map((m) => {
      const ns = namespaceName(lab.spec.name, m.name);
      const files = machineLayout(lab.store, m.name);
      const state = !namespaceExists(ns) ? 'missing' : sshdRunning(files.sshdPid, ns) ? 'running' : 'stopped';
      const stopped = lab.store.fact<StoppedFact>(stoppedFact(m.name));
      return {
        name: m.name,
        role: m.role,
        os: m.os,
        ...(m.os === 'windows' ? { standIn: 'linux' } : {}),
        address: m.ip,
        state,
        detail:
          state !== 'stopped'
            ? undefined
            : stopped
              ? `by labctl stop at ${stopped.at.replace('T', ' ').slice(0, 19)} (labctl start ${m.name})`
              : `namespace ${ns} exists but its sshd is not running`,
      };
    });
  }

  access(lab: LabContext, machine: MachineSpec): MachineAccess {
    return {
      machine,
      connect: () => (lab.connections ? lab.connections.get(machine.name, () => connectNetns(lab, machine)) : connectNetns(lab, machine)),
      root: machineLayout(lab.store, machine.name).root,
      nodeBinary: process.execPath,
      services: 'pidfile',
      firewall: 'nft',
      offline: !lab.spec.network.nat,
      standIn: machine.os === 'windows',
      guardRoute: () => assertRoutedToLab(lab, machine.ip),
    };
  }

  living(lab: LabContext): LivingOps {
    return netnsLiving(lab);
  }

  faults(lab: LabContext): FaultOps {
    return netnsFaults(lab, (name) => this.access(lab, lab.spec.machines.find((m) => m.name === name)!));
  }

  teardownPlan(lab: LabContext): TeardownPlan {
    const labDir = lab.store.paths.dir;
    return {
      // namespaces first: that stops every process in them, before their folders go
      order: ['netns', 'veth', 'nat', 'bridge', 'dir'],
      removers: {
        netns: async (r) => {
          if (!namespaceExists(r.id)) return;
          await killAll(await namespacePids(r.id));
          await runHost('ip', ['netns', 'del', r.id]);
        },
        veth: async (r) => deleteLink(r.id),
        bridge: async (r) => deleteLink(r.id),
        nat: async (r) => removeNat(r.id, r.data?.forwardingWas as string | undefined),
        dir: async (r) => {
          // never follow a journal entry outside this lab's folder
          const rel = path.relative(labDir, r.id);
          if (rel.startsWith('..') || path.isAbsolute(rel) || rel === '') throw new Error(`refusing to remove ${r.id}: not inside ${labDir}`);
          rmSync(r.id, { recursive: true, force: true });
        },
      },
    };
  }

  async leftovers(lab: LabContext): Promise<string[]> {
    const left: string[] = [];
    const namespaces = new Set(await listNamespaces());
    const links = new Set(await listLinks());
    const bridge = bridgeName(lab.spec.name);
    if (links.has(bridge)) left.push(`link ${bridge}`);
    for (const m of lab.spec.machines) {
      const ns = namespaceName(lab.spec.name, m.name);
      if (namespaces.has(ns)) left.push(`network namespace ${ns}`);
      const veth = vethName(lab.spec.name, m);
      if (links.has(veth)) left.push(`link ${veth}`);
      if (existsSync(lab.store.machineDir(m.name))) left.push(`folder ${lab.store.machineDir(m.name)}`);
    }
    const nft = await runHost('nft', ['list', 'table', 'ip', natTableName(lab.spec.name)], { allowFail: true });
    if (nft.code === 0) left.push(`nftables table ${natTableName(lab.spec.name)}`);
    for (const p of processesMentioning(lab.store.paths.dir + path.sep)) left.push(`process ${p.pid}: ${p.cmd}`);
    return left;
  }
}

/**
 * Deleting a namespace makes the kernel destroy its veth pairs a moment later, so a link
 * seen a moment ago may be gone by the time it is deleted: that is success too.
 */
async function deleteLink(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  const r = await runHost('ip', ['link', 'del', name], { allowFail: true });
  if (r.code !== 0 && (await linkExists(name))) throw new Error(`ip link del ${name}: ${r.stderr.trim()}`);
}
