import { createInterface } from 'node:readline/promises';
import { readdirSync, rmdirSync } from 'node:fs';
import type { Command } from 'commander';
import { removeResources } from '../../engine/teardown.js';
import { OperationError, UsageError } from '../../util/errors.js';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { print, printJson } from '../output.js';
import { Reporter } from '../reporter.js';

export function registerTeardown(program: Command): void {
  program
    .command('teardown')
    .description('remove everything the lab created (and only that), then check that nothing is left')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)')
    .addHelpText('after', '\nExamples:\n  sudo labctl teardown\n  sudo labctl teardown --yes --json')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const lab = openLab(g, 'teardown');
      try {
        const result = await teardownLab(lab, new Reporter(g), { yes: Boolean(opts.yes), json: Boolean(g.json) });
        if (g.json) printJson({ ok: true, lab: lab.spec.name, ...result });
        else if (result.removed.length === 0) print(`lab ${lab.spec.name}: nothing to remove`);
        else print(`lab ${lab.spec.name} removed (${result.removed.length} resources); nothing is left`);
      } finally {
        await lab.close();
        removeLabDirIfEmpty(lab);
      }
    });
}

export async function teardownLab(
  lab: Lab,
  reporter: Reporter,
  { yes, json }: { yes: boolean; json: boolean },
): Promise<{ removed: string[]; leftovers: string[] }> {
  const resources = lab.store.resources();
  if (!lab.store.exists() || resources.length === 0) {
    lab.store.destroy();
    return { removed: [], leftovers: [] };
  }
  if (!yes) {
    if (!process.stdin.isTTY || json) throw new UsageError('teardown removes the whole lab: give --yes to confirm when not on a terminal');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(
      `Remove lab ${lab.spec.name} (${lab.provider.name}): ${resources.length} resources, its machines and their data? [y/N] `,
    );
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('teardown cancelled; nothing was removed');
  }
  reporter.phase(`teardown ${lab.spec.name} (${lab.provider.name})`);
  const result = await removeResources(lab.store, lab.provider.teardownPlan(lab), (e) => reporter.teardown(e));
  reporter.stop();
  const leftovers = await lab.provider.leftovers(lab);
  if (result.failed.length > 0 || leftovers.length > 0) {
    throw new OperationError(`teardown of ${lab.spec.name} left things behind`, [
      ...result.failed.map((f) => `${f.resource.kind} ${f.resource.id}: ${f.reason}`),
      ...leftovers.map((l) => `still present: ${l}`),
    ]);
  }
  lab.store.destroy();
  return { removed: result.removed.map((r) => `${r.kind} ${r.id}`), leftovers };
}

function removeLabDirIfEmpty(lab: Lab): void {
  try {
    if (readdirSync(lab.store.paths.dir).length === 0) rmdirSync(lab.store.paths.dir);
  } catch {
    /* not there */
  }
}
