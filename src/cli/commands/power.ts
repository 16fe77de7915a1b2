import type { Command } from 'commander';
import { machinesNamed, startMachines, stopMachines } from '../../living/power.js';
import { openLab, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';
import { Reporter } from '../reporter.js';

export function registerStop(program: Command): void {
  program
    .command('stop')
    .argument('[machine...]', 'only these machines (default: all)')
    .description("stop machines (default: all), keeping their disks: netns stops each machine's processes, Hyper-V turns the VM off (or saves it)")
    .option('--save', 'Hyper-V: save each VM (Save-VM: its memory is kept and start resumes it) instead of shutting it down')
    .addHelpText(
      'after',
      '\nA stopped machine keeps its files (netns: its folder, Hyper-V: its disks); labctl status shows it as stopped,\nlabctl start brings it back with its services, labctl verify says the lab is stopped.\n\nExamples:\n  sudo labctl stop                 # the whole lab\n  sudo labctl stop web2            # one machine; the others go on\n  labctl stop --save               # Hyper-V: save the VMs (resume with labctl start)',
    )
    .action(async (names: string[], opts: { save?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'stop');
      try {
        const r = await stopMachines(lab, machinesNamed(lab, names), { save: Boolean(opts.save) }, reporter);
        reporter.stop();
        if (g.json) printJson({ ok: true, lab: lab.spec.name, provider: lab.provider.name, ...r });
        else {
          if (r.stopped.length > 0) print(`stopped ${r.stopped.join(', ')}${opts.save ? ' (saved)' : ''}: labctl start brings ${r.stopped.length === 1 ? 'it' : 'them'} back`);
          if (r.alreadyStopped.length > 0) print(`already stopped: ${r.alreadyStopped.join(', ')}`);
        }
      } finally {
        await lab.close();
      }
    });
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .argument('[machine...]', 'only these machines (default: all)')
    .description('start stopped machines (default: all) and wait until they answer, with their services running again')
    .addHelpText(
      'after',
      '\nStart runs each machine\'s create steps (they wait for it to answer) and, once the lab is deployed, its deploy\nsteps: every check runs, and a service that is not running is started again. Nothing is rebuilt.\n\nExamples:\n  sudo labctl start\n  sudo labctl start redis web1\n  sudo labctl start && labctl verify',
    )
    .action(async (names: string[], _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'start');
      try {
        const r = await startMachines(lab, machinesNamed(lab, names), reporter);
        if (g.json) printJson({ ok: true, lab: lab.spec.name, provider: lab.provider.name, ...r });
        else {
          if (r.started.length > 0) print(`started ${r.started.join(', ')} (${reporter.elapsed()}): labctl verify proves the lab works`);
          if (r.alreadyRunning.length > 0) print(`already running: ${r.alreadyRunning.join(', ')}${r.applied.length > 0 ? ` (${r.applied.length} step${r.applied.length === 1 ? '' : 's'} redone)` : ''}`);
        }
      } finally {
        await lab.close();
      }
    });
}
