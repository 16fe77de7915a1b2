import type { Command } from 'commander';
import { UsageError } from '../../util/errors.js';
import { SshTransport } from '../../transports/ssh.js';
import { openLab, type GlobalOptions, type Lab } from '../context.js';
import { runInteractive, streamCommand } from '../stream.js';

export function registerSsh(program: Command): void {
  program
    .command('ssh')
    .argument('<machine>', 'machine name from the spec')
    .argument('[command...]', 'command to run (after --); without it, an interactive shell')
    .description('open a shell on a machine, or run a command there and exit with its code')
    .addHelpText('after', '\nExamples:\n  labctl ssh redis\n  labctl ssh web1 -- ss -tlnp\n  labctl ssh redis -- tail -n 50 /var/log/syslog')
    .action(async (machine: string, command: string[], _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const lab = openLab(g, 'ssh', { lock: false });
      const t = await connectMachine(lab, machine);
      try {
        if (command.length > 0) process.exitCode = await streamCommand(t, command.join(' '), !process.stdin.isTTY);
        else if (!process.stdin.isTTY) throw new UsageError('an interactive shell needs a terminal; give a command after --');
        else process.exitCode = await runInteractive(t, undefined);
      } finally {
        await t.close();
      }
    });
}

export async function connectMachine(lab: Lab, name: string): Promise<SshTransport> {
  const m = lab.spec.machines.find((x) => x.name === name);
  if (!m) {
    throw new UsageError(`no machine named "${name}" in lab ${lab.spec.name} (machines: ${lab.spec.machines.map((x) => x.name).join(', ')})`);
  }
  if (!lab.store.exists()) throw new UsageError(`lab ${lab.spec.name} is not created: run labctl create first`);
  // a connection of its own (not the command's shared pool): the shell owns it and closes it
  const t = await lab.provider.access({ ...lab, connections: undefined }, m).connect();
  if (!(t instanceof SshTransport)) throw new UsageError(`${name} is reached through PowerShell Direct, not SSH`);
  return t;
}
