import type { Command } from 'commander';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { Reporter } from '../reporter.js';
import { runSteps, type RunResult } from '../../engine/runner.js';
import { printJson } from '../output.js';
import { printStatus } from './status.js';

export function registerCreate(program: Command): void {
  program
    .command('create')
    .description('make the lab network and its machines, ready and reachable over SSH')
    .addHelpText('after', '\nExamples:\n  sudo labctl create\n  sudo labctl create --spec my-lab.yaml --verbose')
    .action(async (_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'create');
      try {
        await createLab(lab, reporter);
        const machines = await lab.provider.status(lab);
        if (g.json) printJson({ ok: true, lab: lab.spec.name, provider: lab.provider.name, machines });
        else printStatus(lab, machines);
      } finally {
        await lab.close();
      }
    });
}

/** Preflight, then every create step; shared by `create` and `up`. */
export async function createLab(lab: Lab, reporter: Reporter): Promise<RunResult> {
  await lab.provider.preflight(lab);
  lab.store.init(lab.provider.name, { file: lab.spec.file, hash: lab.spec.hash });
  reporter.phase(`create ${lab.spec.name} (${lab.provider.name})`);
  try {
    return await runSteps(lab.provider.createSteps(lab), { store: lab.store, onEvent: (e) => reporter.step(e) });
  } finally {
    reporter.summary();
  }
}
