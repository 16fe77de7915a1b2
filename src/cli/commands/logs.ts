import type { Command } from 'commander';
import { livingOps, requireCreated } from '../../living/power.js';
import type { LogSource } from '../../providers/provider.js';
import { UnknownMachineError, UsageError } from '../../util/errors.js';
import { openLab, type GlobalOptions } from '../context.js';
import { printJson } from '../output.js';
import { positiveInt } from './verify.js';

export const LOG_KINDS = ['redis', 'app', 'build', 'sshd', 'console'] as const;

interface LogsOptions {
  follow?: boolean;
  lines: number;
}

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .argument('<machine>', 'machine name from the spec')
    .argument('[log]', `${LOG_KINDS.join(', ')} (default: the machine's service: redis on the redis machine, app on a web machine)`)
    .description("show a machine's log: redis, app, build, sshd or console (default: its role's service)")
    .option('-f, --follow', 'keep printing what is appended, until Ctrl-C')
    .option('-n, --lines <n>', 'how many of the last lines to show', positiveInt(1_000_000), 50)
    .addHelpText(
      'after',
      `
Where each log is: netns, files in the machine's folder (read on this host, so a stopped
machine's logs too); Hyper-V, over SSH on an Ubuntu VM (sshd: its journal), console: the VM's
serial console as labctl copied it here during create; a Windows VM's app log is iisnode's,
read through PowerShell Direct.

Examples:
  labctl logs web1                 # the chat app's last 50 lines
  labctl logs redis -n 200         # redis-server's log
  labctl logs redis build          # the Redis build (make) log
  labctl logs web2 app -f          # follow; Ctrl-C ends it`,
    )
    .action(async (machine: string, kind: string | undefined, opts: LogsOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (kind !== undefined && !(LOG_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown log "${kind}": one of ${LOG_KINDS.join(', ')}`);
      if (opts.follow && g.json) throw new UsageError('--follow prints the log as it grows: it has no --json form');
      const lab = openLab(g, 'logs', { lock: false });
      try {
        const m = lab.spec.machines.find((x) => x.name === machine);
        if (!m) throw new UnknownMachineError(machine, lab.spec.name, lab.spec.machines.map((x) => x.name));
        requireCreated(lab);
        const sources = livingOps(lab).logs(m);
        const source = pick(sources, kind, machine, lab.provider.name);
        if (!opts.follow) {
          const text = await source.tail(opts.lines);
          if (g.json) printJson({ lab: lab.spec.name, machine, log: source.kind, where: source.where, lines: text.split('\n').filter((l, i, a) => l !== '' || i < a.length - 1) });
          else {
            process.stderr.write(`==> ${machine} ${source.kind}: ${source.where} <==\n`);
            process.stdout.write(text);
          }
          return;
        }
        process.stderr.write(`==> ${machine} ${source.kind}: ${source.where} (following; Ctrl-C ends it) <==\n`);
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await source.follow(opts.lines, (text) => process.stdout.write(text), ac.signal);
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      } finally {
        await lab.close();
      }
    });
}

function pick(sources: LogSource[], kind: string | undefined, machine: string, provider: string): LogSource {
  if (sources.length === 0) throw new UsageError(`labctl knows no log of ${machine} on ${provider}`);
  if (kind === undefined) return sources[0]!;
  const found = sources.find((s) => s.kind === kind);
  if (!found) {
    throw new UsageError(`${machine} has no ${kind} log on ${provider} (its logs: ${sources.map((s) => s.kind).join(', ')})`);
  }
  return found;
}
