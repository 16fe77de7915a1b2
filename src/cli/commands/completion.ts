import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { labsRoot } from '../../state/store.js';
import { UsageError } from '../../util/errors.js';
import { bashScript, commandShapes, powershellScript, SHELLS, zshScript } from '../completion.js';
import { resolveHome, resolveLab, type GlobalOptions } from '../context.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .argument('<shell>', SHELLS.join(', '))
    .description('print a completion script for bash, zsh or powershell (commands, options, machine and lab names)')
    .addHelpText(
      'after',
      `
Machine, lab and checkpoint names are asked of labctl when you press Tab, with the --spec,
--lab and --home already on the line (so they follow your spec file or the lab you name).

Examples:
  source <(labctl completion bash)                          # bash, this shell
  labctl completion bash | sudo tee /etc/bash_completion.d/labctl
  labctl completion zsh > "\${fpath[1]}/_labctl"             # zsh (then compinit)
  labctl completion powershell | Out-String | Invoke-Expression   # PowerShell, this session`,
    )
    .action(async (shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`labctl completion ${shell}: the shell is one of ${SHELLS.join(', ')}`);
      // every command's definition, loaded for once: the script lists them all
      const { buildProgram, labctlVersion } = await import('../main.js');
      const shapes = commandShapes(await buildProgram([], { all: true }));
      const make = shell === 'bash' ? bashScript : shell === 'zsh' ? zshScript : powershellScript;
      process.stdout.write(make(shapes, labctlVersion()));
    });

}

/** What the completion scripts ask at Tab: one word per line, nothing on stderr, exit 0. */
export function registerCompleteHelper(program: Command): void {
  program
    .command('__complete', { hidden: true })
    .argument('<what>', 'machines, labs or checkpoints')
    .action(async (what: string, _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      let words: string[] = [];
      try {
        words = completionWords(what, g);
      } catch {
        words = [];
      }
      if (words.length > 0) process.stdout.write(words.join('\n') + '\n');
    });
}

export function completionWords(what: string, g: GlobalOptions): string[] {
  if (what === 'labs') {
    const root = labsRoot(resolveHome(g));
    return existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, 'state.json'))).sort() : [];
  }
  const { spec, store } = resolveLab(g, 'complete');
  if (what === 'machines') return spec.machines.map((m) => m.name);
  if (what === 'checkpoints') {
    const facts = Object.keys(store.peek()?.facts ?? {}).filter((k) => k.startsWith('checkpoint:')).map((k) => k.slice('checkpoint:'.length));
    const folders = existsSync(store.paths.checkpoints) ? readdirSync(store.paths.checkpoints).filter((d) => !d.includes('.partial-')) : [];
    return [...new Set([...facts, ...folders])].sort();
  }
  return [];
}
