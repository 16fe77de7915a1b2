import type { Command } from 'commander';
import { recreateMachine } from '../../living/recreate.js';
import { UnknownMachineError } from '../../util/errors.js';
import { openLab, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';
import { Reporter } from '../reporter.js';

export function registerRecreate(program: Command): void {
  program
    .command('recreate')
    .argument('<machine>', 'machine name from the spec')
    .description('remove one machine and make it again from nothing, then deploy it; the other machines are left running')
    .addHelpText(
      'after',
      `
Everything the journal lists for that machine goes (netns: its namespace, link and folder;
Hyper-V: its VM, disks and discs), then its create steps run, and its deploy steps when the
lab has been deployed. It takes the spec as it is now: a new address or size applies here.
The other machines and their processes are not touched.

Examples:
  sudo labctl recreate web2
  sudo labctl recreate redis --verbose     # Redis is built again on the new machine`,
    )
    .action(async (machine: string, _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'recreate');
      try {
        const m = lab.spec.machines.find((x) => x.name === machine);
        if (!m) throw new UnknownMachineError(machine, lab.spec.name, lab.spec.machines.map((x) => x.name));
        const r = await recreateMachine(lab, m, reporter);
        if (g.json) printJson({ ok: true, lab: lab.spec.name, machine, ...r });
        else print(`${machine} recreated (${reporter.elapsed()}${r.deployed ? ', deployed' : ''}): ${r.deployed ? 'labctl verify proves the lab works' : 'labctl deploy puts Redis and the app on it'}`);
      } finally {
        await lab.close();
      }
    });
}
