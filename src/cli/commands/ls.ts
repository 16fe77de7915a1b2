import { existsSync, readdirSync } from 'node:fs';
import type { Command } from 'commander';
import { loadSpec, parseSpec } from '../../spec/load.js';
import type { LabSpec, ProviderName } from '../../spec/types.js';
import { LabStore, labsRoot } from '../../state/store.js';
import { providerFor } from '../../providers/index.js';
import type { MachineStatus } from '../../providers/provider.js';
import { errorMessage } from '../../util/errors.js';
import { resolveHome, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';
import { table } from '../reporter.js';

export interface LabListing {
  name: string;
  provider: string;
  subnet: string | null;
  machines: { up: number; total: number; states: { name: string; state: string }[] };
  created: string;
  spec: { file: string; exists: boolean; changed: boolean };
  problem?: string;
}

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description('every lab under the home: provider, subnet, machines up (checked live), created, spec file')
    .addHelpText(
      'after',
      '\nA lab whose spec file is gone is still listed (its folder keeps a copy): labctl --lab NAME ... reaches it.\n\nExamples:\n  sudo labctl ls\n  labctl ls --json | jq -r \'.labs[] | select(.machines.up < .machines.total) | .name\'\n  labctl --home /srv/labctl ls',
    )
    .action(async (_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const home = resolveHome(g);
      const labs = await listLabs(home);
      if (g.json) {
        printJson({ home, labs });
        return;
      }
      if (labs.length === 0) {
        print(`no labs under ${labsRoot(home)}`);
        return;
      }
      print(
        table(
          ['LAB', 'PROVIDER', 'SUBNET', 'UP', 'CREATED', 'SPEC'],
          labs.map((l) => [
            l.name,
            l.provider,
            l.subnet ?? '?',
            l.problem ? `?: ${l.problem}` : `${l.machines.up}/${l.machines.total}`,
            l.created.replace('T', ' ').slice(0, 16),
            `${l.spec.file}${!l.spec.exists ? ' (gone: use --lab)' : l.spec.changed ? ' (changed since create)' : ''}`,
          ]),
        ),
      );
    });
}

/** Every lab with a state file under the home, its machines checked live as `status` does. */
export async function listLabs(home: string): Promise<LabListing[]> {
  const root = labsRoot(home);
  const names = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort() : [];
  const out: LabListing[] = [];
  for (const name of names) {
    const store = new LabStore(home, name);
    let state;
    try {
      state = store.peek();
    } catch {
      continue; // an unreadable state file: status of that lab says so
    }
    if (!state) continue;
    const listing: LabListing = {
      name,
      provider: state.provider,
      subnet: null,
      machines: { up: 0, total: 0, states: [] },
      created: state.createdAt,
      spec: { file: state.spec.file, exists: existsSync(state.spec.file), changed: false },
    };
    let spec: LabSpec | undefined;
    try {
      const recorded = store.recordedSpec();
      spec = recorded !== undefined ? parseSpec(recorded, state.spec.file) : loadSpec(state.spec.file);
      listing.subnet = spec.network.cidr;
      if (listing.spec.exists) listing.spec.changed = loadSpec(state.spec.file).hash !== state.spec.hash;
    } catch (err) {
      listing.problem = spec ? undefined : `no readable spec (${errorMessage(err).split('\n')[0]})`;
    }
    if (spec) {
      listing.machines.total = spec.machines.length;
      store.openReadOnly();
      let machines: MachineStatus[] = [];
      try {
        machines = await providerFor(state.provider as ProviderName).status({ spec, store, home });
      } catch (err) {
        listing.problem = errorMessage(err);
      }
      listing.machines.states = machines.map((m) => ({ name: m.name, state: m.state }));
      listing.machines.up = machines.filter((m) => m.state === 'running').length;
      // a Hyper-V lab listed from a machine without its host: nothing can be checked from here
      const unknown = machines.find((m) => m.detail?.startsWith('unknown'));
      if (unknown && listing.machines.up === 0) listing.problem = unknown.detail!.replace(/^unknown: /, '');
    }
    out.push(listing);
  }
  return out;
}
