import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { LabNotCreatedError, UnknownMachineError, UsageError } from '../../util/errors.js';
import { SshTransport } from '../../transports/ssh.js';
import type { MachineSpec } from '../../spec/types.js';
import { openLab, refuseLabctlOptions, type GlobalOptions, type Lab } from '../context.js';
import { runInteractive, streamCommand } from '../stream.js';

export function registerSsh(program: Command): void {
  program
    .command('ssh')
    .argument('<machine>', 'machine name from the spec')
    .argument('[command...]', 'command to run; without it, an interactive shell')
    // everything after the machine is the command's: `labctl ssh web1 tail -n 5 app.log`
    .passThroughOptions()
    .description('open a shell on a machine (SSH; PowerShell Direct for a Windows VM on Hyper-V), or run a command there and exit with its code')
    .addHelpText(
      'after',
      '\nExamples:\n  labctl ssh redis\n  labctl ssh web1 ss -tlnp\n  labctl ssh redis -- tail -n 50 /var/log/syslog\n  labctl ssh web1 Get-Service WMSVC        # Hyper-V: a PowerShell command in the Windows VM',
    )
    .action(async (machine: string, command: string[], _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const args = refuseLabctlOptions('ssh', command);
      const lab = openLab(g, 'ssh', { lock: false });
      const m = machineOf(lab, machine);
      const guest = lab.provider.guestShell?.(lab, m);
      if (guest) {
        if (args.length > 0) process.exitCode = await streamCommand(guest.transport(), args.join(' '), !process.stdin.isTTY);
        else if (!process.stdin.isTTY) throw new UsageError('an interactive shell needs a terminal; give a command after the machine');
        else process.exitCode = await runProgram(guest.interactive());
        return;
      }
      const t = await connectMachine(lab, machine);
      try {
        if (args.length > 0) process.exitCode = await streamCommand(t, args.join(' '), !process.stdin.isTTY);
        else if (!process.stdin.isTTY) throw new UsageError('an interactive shell needs a terminal; give a command after the machine');
        else process.exitCode = await runInteractive(t, undefined);
      } finally {
        await t.close();
      }
    });
}

function machineOf(lab: Lab, name: string): MachineSpec {
  const m = lab.spec.machines.find((x) => x.name === name);
  if (!m) {
    throw new UnknownMachineError(name, lab.spec.name, lab.spec.machines.map((x) => x.name));
  }
  if (!lab.store.exists()) throw new LabNotCreatedError(`lab ${lab.spec.name} is not created: run labctl create first`);
  return m;
}

export async function connectMachine(lab: Lab, name: string): Promise<SshTransport> {
  const m = machineOf(lab, name);
  // a connection of its own (not the command's shared pool): the shell owns it and closes it
  const t = await lab.provider.access({ ...lab, connections: undefined }, m).connect();
  if (!(t instanceof SshTransport)) throw new UsageError(`${name} is reached through PowerShell Direct, not SSH`);
  return t;
}

/** A program in this terminal (stdin, stdout, stderr shared), resolving to its exit code. */
function runProgram(p: { file: string; args: string[] }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(p.file, p.args, { stdio: 'inherit' });
    child.on('error', (err) => reject(new UsageError(`cannot start ${p.file}: ${err.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
