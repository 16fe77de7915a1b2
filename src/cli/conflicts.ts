import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseSpec, loadSpec } from '../spec/load.js';
import { overlaps } from '../spec/ipv4.js';
import type { LabSpec } from '../spec/types.js';
import { LabStore, labsRoot } from '../state/store.js';
import { UsageError } from '../util/errors.js';

/**
 * Before a lab is created: no other lab of the same home may have (or be making) a network that
 * overlaps its subnet. Two labs on one subnet would fight over the host's routes (netns: two
 * bridges with the same gateway; Hyper-V: two NATs on one prefix, which New-NetNat refuses half
 * way). The host's routes are checked by the provider's preflight too, but only for labs whose
 * network exists already: this also catches a lab that is half-made or stopped. Exit 2.
 */
export function assertSubnetFree(home: string, spec: LabSpec): void {
  const root = labsRoot(home);
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (name === spec.name) continue;
    const store = new LabStore(home, name);
    let other: LabSpec | undefined;
    try {
      const state = store.peek();
      if (!state) continue;
      const recorded = store.recordedSpec();
      other = recorded !== undefined ? parseSpec(recorded, state.spec.file) : loadSpec(state.spec.file);
    } catch {
      continue; // a lab whose spec cannot be read: its own commands say so
    }
    if (overlaps(other.network.subnet, spec.network.subnet)) {
      throw new UsageError(
        `network.subnet ${spec.network.cidr} of lab ${spec.name} (${spec.file}) overlaps lab ${name}'s ${other.network.cidr} (${path.join(root, name)}): ` +
          `choose another subnet, or remove lab ${name} first (labctl --lab ${name} teardown)`,
      );
    }
  }
}
