import type { TeardownPlan } from '../../engine/teardown.js';
import type { Resource } from '../../state/store.js';
import { OperationError } from '../../util/errors.js';
import { invoke, type HypervEnv } from './env.js';
import { ownerTag, winInside } from './names.js';
import { call } from './scripts.js';

/**
 * Teardown removes what the journal lists and nothing else; each remover checks again on
 * the host that the thing is still the lab's (Notes mark, prefix, inside the lab folder).
 * The Windows base disk in the image cache is not a lab resource and stays.
 */
export function hypervTeardownPlan(env: HypervEnv): TeardownPlan {
  const { cfg } = env;
  const file = async (r: Resource, recurse: boolean) => {
    if (!winInside(cfg.labRoot, r.id)) throw new OperationError(`refusing to remove ${r.id}: it is not inside the lab's folder ${cfg.labRoot}`);
    await invoke(env, call.removePath(cfg, r.id, recurse));
  };
  return {
    // VMs first (they hold their disks open), then files, the folder, and the network last
    order: ['hyperv-vm', 'hyperv-disk', 'hyperv-file', 'hyperv-dir', 'hyperv-nat', 'hyperv-host-ip', 'hyperv-switch'],
    removers: {
      'hyperv-vm': async (r) => {
        const machine = r.machine ?? '';
        const result = await invoke<{ removed: boolean; files: string[]; failed: { path: string; reason: string }[] }>(
          env,
          call.removeVm(cfg, r.id, machine),
          undefined,
          15 * 60_000,
        );
        if (result.failed.length > 0) {
          throw new OperationError(
            `VM ${r.id} is removed but ${result.failed.length} of its files are not`,
            result.failed.map((f) => `${f.path}: ${f.reason}`),
          );
        }
      },
      'hyperv-disk': (r) => file(r, false),
      'hyperv-file': (r) => file(r, false),
      'hyperv-dir': (r) => file(r, true),
      'hyperv-nat': async (r) => {
        await invoke(env, call.removeNat(r.id, String(r.data?.prefix ?? '')));
      },
      'hyperv-host-ip': async (r) => {
        await invoke(env, call.removeHostIp(String(r.data?.switch ?? cfg.switchName), String(r.data?.ip ?? '')));
      },
      'hyperv-switch': async (r) => {
        await invoke(env, call.removeSwitch(r.id, String(r.data?.tag ?? ownerTag(cfg.lab))));
      },
    },
  };
}

export async function hypervLeftovers(env: HypervEnv): Promise<string[]> {
  const r = await invoke<{ leftovers: string[] }>(env, call.leftovers(env.cfg));
  return r.leftovers ?? [];
}
