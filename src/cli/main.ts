import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { LabctlError, SpecError } from '../util/errors.js';
import { CATALOG, commandOf } from './commands/catalog.js';
import { guardInterrupts } from './interrupt.js';
import { setJsonErrorMode } from './output.js';

const EXAMPLES = `
Examples:
  sudo labctl up                      build the seed lab on this Linux machine and prove it works
  labctl validate --spec my-lab.yaml  check a spec file
  labctl plan --provider hyperv       every step and PowerShell script a Windows host would run
  labctl status --json                machines and their live state, for scripts
  labctl ls                           every lab under the home, with its state
  labctl --lab my-lab teardown --yes  a lab by name, even after its spec file is gone
  labctl ssh web1 -- ss -tlnp         run a command on a machine
  labctl teardown --yes               remove everything the lab created`;

function globalOptions(): Option[] {
  return [
    new Option('--spec <file>', 'lab spec (default: ./labctl.yaml if present, else the packaged vm-specs/signalr-redis.yaml)'),
    new Option('--lab <name>', 'a lab by name, through the copy of its spec recorded at create (labctl ls lists them)'),
    new Option('--provider <name>', 'netns (Linux namespaces) or hyperv (Windows Hyper-V); default: the spec\'s, else by OS').choices(['netns', 'hyperv']),
    new Option('--home <dir>', 'where labs keep their state').env('LABCTL_HOME').default(undefined, '~/.labctl'),
    new Option('--json', 'print only JSON on stdout'),
    new Option('--verbose', 'show every step and its detail lines'),
  ];
}

/** The version in package.json (one small read at start). */
export function labctlVersion(): string {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The program with the command `argv` runs loaded, and only that one: the others are listed
 * (name, arguments, description from the catalog) without loading their code, so `labctl
 * --help` and `labctl status` do not pay for ssh2, ioredis or the providers of other commands.
 * `all` loads every command (completion scripts, tests).
 */
export async function buildProgram(argv: string[] = [], { all = false }: { all?: boolean } = {}): Promise<Command> {
  const wanted = all ? undefined : commandOf(argv.slice(2));
  const program = new Command('labctl').description('Build, deploy, prove and remove a SignalR-style scaleout-with-Redis lab.');
  for (const option of globalOptions()) program.addOption(option);
  program
    .version(labctlVersion(), '--version', 'print the version of labctl')
    // lets `labctl redis-cli INFO server` and `labctl ssh web1 -- ls -l` pass their options through
    .enablePositionalOptions()
    .showHelpAfterError('(run labctl --help for usage)')
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const entry of CATALOG) {
    if (all || entry.name === wanted) (await entry.load())(program);
    else {
      const placeholder = program.command(entry.name, { hidden: entry.hidden === true }).description(entry.description);
      if (entry.args) placeholder.arguments(entry.args);
      if (entry.passThrough) placeholder.passThroughOptions();
      placeholder.action(() => {
        throw new Error(`labctl ${entry.name} was not loaded`);
      });
    }
  }
  for (const cmd of program.commands) {
    cmd.exitOverride();
    // With positional options an option after the command name belongs to the command, so
    // every command that does not pass its options through also takes the global ones:
    // `labctl status --json` works as well as `labctl --json status`.
    if (!(cmd as unknown as { _passThroughOptions?: boolean })._passThroughOptions) {
      for (const option of globalOptions()) cmd.addOption(option);
    }
  }
  // optsWithGlobals() lets the program's values win (e.g. --home from LABCTL_HOME): carry the
  // ones given on the command line after the command name up to the program
  program.hook('preAction', (_program, action) => {
    if (action === program) return;
    for (const option of globalOptions()) {
      const key = option.attributeName();
      if (action.getOptionValueSource(key) === 'cli') program.setOptionValueWithSource(key, action.getOptionValue(key), 'cli');
    }
  });
  return program;
}

/** Runs labctl; resolves to the exit code (0 ok, 1 operation failed, 2 bad usage/spec/preflight). */
export async function run(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  const wantsJson = argv.includes('--json');
  setJsonErrorMode(wantsJson);
  // commands report a non-zero result through process.exitCode: start each run from a clean
  // one and leave it as it was, so a second run in the same process is not given the first's code
  const outer = process.exitCode;
  process.exitCode = undefined;
  // Ctrl-C / SIGTERM during create, deploy, up, teardown: stop, journal, say how to resume
  const interrupts = guardInterrupts(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(interrupts.explain(err), wantsJson);
  } finally {
    interrupts.finish();
    process.exitCode = outer;
  }
}

export async function main(argv: string[]): Promise<void> {
  // `labctl plan | head -1`: the reader left; what is left to print has no one to read it
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const code = await run(argv);
  process.exitCode = code;
}

function reportError(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // --help and --version end through here with exit code 0
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    if (json) process.stdout.write(JSON.stringify({ ok: false, code: 'USAGE', error: err.message.replace(/^error: /, ''), exitCode: 2 }) + '\n');
    return 2;
  }
  if (err instanceof LabctlError) {
    if (json) {
      const body = err instanceof SpecError ? { problems: err.problems } : { details: err.details };
      process.stdout.write(JSON.stringify({ ok: false, code: err.code, error: err.message, exitCode: err.exitCode, ...body }) + '\n');
    } else {
      process.stderr.write(`labctl: ${err.message}\n`);
      for (const d of err.details) process.stderr.write(`${err instanceof SpecError ? 'labctl: ' : '  '}${d}\n`);
    }
    return err.exitCode;
  }
  // a bug: keep the stack for a report, but say so plainly
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(JSON.stringify({ ok: false, code: 'INTERNAL', error: `internal error: ${message}`, exitCode: 1 }) + '\n');
  else {
    process.stderr.write(`labctl: internal error: ${message}\n`);
    if (process.env.LABCTL_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write('  (set LABCTL_DEBUG=1 for the stack trace, and please report it)\n');
  }
  return 1;
}
