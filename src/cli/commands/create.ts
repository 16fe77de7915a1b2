import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { assertSubnetFree } from '../conflicts.js';
import { createHash } from 'node:crypto';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { Reporter } from '../reporter.js';
import { runSteps, type RunResult } from '../../engine/runner.js';
import { printJson } from '../output.js';
import { printStatus } from './status.js';

export function registerCreate(program: Command): void {
  program
    .command('create')
    .description('make the lab network and its machines, ready and reachable over SSH')
    .option('--no-cache', 'hyperv: install every Ubuntu VM from the ISO, neither using nor making the golden disk (labctl cache ls)')
    .addHelpText('after', '\nExamples:\n  sudo labctl create\n  sudo labctl create --spec my-lab.yaml --verbose\n  labctl create --provider hyperv --no-cache   # Ubuntu VMs from the ISO even when a golden disk exists')
    .action(async (opts: { cache?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const reporter = new Reporter(g);
      const lab = openLab(g, 'create');
      if (opts.cache === false) lab.imageCache = false;
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
  assertSubnetFree(lab.home, lab.spec);
  await lab.provider.preflight(lab);
  lab.store.init(lab.provider.name, { file: lab.spec.file, hash: lab.spec.hash });
  recordSpec(lab);
  reporter.phase(`create ${lab.spec.name} (${lab.provider.name})`);
  try {
    return await runSteps(lab.provider.createSteps(lab), { store: lab.store, onEvent: (e) => reporter.step(e) });
  } finally {
    reporter.summary();
  }
}

/**
 * Keeps the spec the lab is being made from in its folder: `labctl --lab NAME` reads it, and
 * later commands compare the spec file with it. The copy is the text whose hash the spec has
 * (the file as loaded, or the recorded copy itself when the lab was named with --lab).
 */
function recordSpec(lab: Lab): void {
  let text: string | undefined;
  try {
    text = readFileSync(lab.spec.file, 'utf8');
  } catch {
    text = undefined;
  }
  if (text === undefined || createHash('sha256').update(text).digest('hex') !== lab.spec.hash) text = lab.store.recordedSpec();
  if (text !== undefined && createHash('sha256').update(text).digest('hex') === lab.spec.hash) lab.store.recordSpec(text);
}
