import type { Command } from 'commander';
import { checkName, listCheckpoints, removeCheckpoint, restoreCheckpoint, saveCheckpoint } from '../../living/checkpoints.js';
import { UsageError } from '../../util/errors.js';
import { openLab, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';
import { Reporter, table } from '../reporter.js';
import { printVerify, runVerify, withVerifyOptions, type VerifyCliOptions } from './verify.js';

const ACTIONS = ['save', 'restore', 'list', 'remove'] as const;

interface CheckpointOptions extends VerifyCliOptions {
  /** --no-verify */
  verify: boolean;
}

export function registerCheckpoint(program: Command): void {
  withVerifyOptions(program.command('checkpoint'), { browser: false })
    .argument('<action>', `${ACTIONS.join(', ')}`)
    .argument('[name]', 'the checkpoint (list needs none)')
    .description('save, restore, list or remove a checkpoint of every machine of the lab (restore verifies afterwards)')
    .option('--no-verify', 'restore: do not run labctl verify afterwards')
    .addHelpText(
      'after',
      `
A checkpoint covers every machine and is taken while the lab is consistent: every machine in one
state, Redis's data saved to disk first (SAVE). netns: a copy of each machine's folder, taken with
its processes stopped (they start again after). Hyper-V: Checkpoint-VM of every VM of the lab;
restore applies them (Restore-VMSnapshot, alias Restore-VMCheckpoint) and starts the VMs.
restore ends with labctl verify (its exit code is verify's).

Examples:
  sudo labctl checkpoint save clean
  sudo labctl checkpoint list
  sudo labctl checkpoint restore clean          # then verify
  sudo labctl checkpoint remove clean
  sudo labctl up --checkpoint                   # takes "clean" after the first green verify`,
    )
    .action(async (action: string, name: string | undefined, opts: CheckpointOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`labctl checkpoint ${action}: the action is one of ${ACTIONS.join(', ')}`);
      if (action === 'list' && name !== undefined) throw new UsageError('labctl checkpoint list takes no name');
      const reporter = new Reporter(g);
      const lab = openLab(g, `checkpoint ${action}`, { lock: action !== 'list' });
      try {
        if (action === 'list') {
          const list = await listCheckpoints(lab);
          if (g.json) printJson({ lab: lab.spec.name, provider: lab.provider.name, checkpoints: list });
          else if (list.length === 0) print(`lab ${lab.spec.name} has no checkpoints (labctl checkpoint save NAME takes one)`);
          else {
            print(
              table(
                ['CHECKPOINT', 'CREATED', 'MACHINES'],
                list.map((c) => [
                  c.name,
                  c.created.replace('T', ' ').slice(0, 19),
                  `${c.machines.join(', ')}${c.complete ? '' : ' (not every machine: restore refuses it)'}${c.type && c.type !== 'files' ? ` [${c.type}]` : ''}`,
                ]),
              ),
            );
          }
          return;
        }
        const checkpoint = checkName(name);
        if (action === 'save') {
          const c = await saveCheckpoint(lab, checkpoint, reporter);
          reporter.stop();
          if (g.json) printJson({ ok: true, lab: lab.spec.name, checkpoint: c });
          else print(`checkpoint ${checkpoint} of ${c.machines.join(', ')} saved (${reporter.elapsed()}): labctl checkpoint restore ${checkpoint} comes back to it`);
        } else if (action === 'remove') {
          await removeCheckpoint(lab, checkpoint, reporter);
          reporter.stop();
          if (g.json) printJson({ ok: true, lab: lab.spec.name, removed: checkpoint });
          else print(`checkpoint ${checkpoint} removed`);
        } else {
          const r = await restoreCheckpoint(lab, checkpoint, reporter);
          if (!opts.verify) {
            if (g.json) printJson({ ok: true, lab: lab.spec.name, checkpoint, restored: r.restored });
            else print(`checkpoint ${checkpoint} restored on ${r.restored.join(', ')} (${reporter.elapsed()})`);
            return;
          }
          const report = await runVerify(lab, reporter, opts);
          if (g.json) printJson({ ok: report.ok, ...(report.ok ? {} : { code: 'VERIFY_FAILED' }), lab: lab.spec.name, checkpoint, restored: r.restored, verify: report });
          else {
            print(`checkpoint ${checkpoint} restored on ${r.restored.join(', ')}; verify:`);
            printVerify(report);
          }
          process.exitCode = report.ok ? 0 : 1;
        }
      } finally {
        await lab.close();
      }
    });
}
