import type { Command } from 'commander';

/**
 * Every command, as `labctl --help` lists it, and where its code is. A command's module (and
 * everything it imports: ssh2, ioredis, the providers, …) is loaded only when that command
 * runs: `labctl --help` and `labctl status` load commander and nothing else of the others.
 * `args` and `description` repeat what the command's own module declares (test/unit/
 * cli-catalog.test.ts checks they agree, and that the help texts are the same).
 */
export interface CatalogEntry {
  name: string;
  /** the command's arguments as commander writes them, e.g. "<machine> [command...]" */
  args: string;
  description: string;
  /** not listed in --help (the completion scripts' helper) */
  hidden?: boolean;
  /** passes its options on (ssh, redis-cli): labctl's own options are not added to it */
  passThrough?: boolean;
  load(): Promise<(program: Command) => void>;
}

export const CATALOG: CatalogEntry[] = [
  {
    name: 'up',
    args: '',
    description: 'create + deploy + verify, with progress; on a lab that is already up it only verifies',
    load: async () => (await import('./up.js')).registerUp,
  },
  {
    name: 'create',
    args: '',
    description: 'make the lab network and its machines, ready and reachable over SSH',
    load: async () => (await import('./create.js')).registerCreate,
  },
  {
    name: 'deploy',
    args: '[machine...]',
    description: 'build Redis from source on the redis machine and run the chat app on every web machine',
    load: async () => (await import('./deploy.js')).registerDeploy,
  },
  {
    name: 'verify',
    args: '',
    description: 'prove the lab works: Redis auth and build, each web node, cross-node delivery with latency, the backplane',
    load: async () => (await import('./verify.js')).registerVerify,
  },
  {
    name: 'status',
    args: '',
    description: 'each machine: name, role, os, address and its live state (running / stopped / missing)',
    load: async () => (await import('./status.js')).registerStatus,
  },
  {
    name: 'ls',
    args: '',
    description: 'every lab under the home: provider, subnet, machines up (checked live), created, spec file',
    load: async () => (await import('./ls.js')).registerLs,
  },
  {
    name: 'stop',
    args: '[machine...]',
    description: "stop machines (default: all), keeping their disks: netns stops each machine's processes, Hyper-V turns the VM off (or saves it)",
    load: async () => (await import('./power.js')).registerStop,
  },
  {
    name: 'start',
    args: '[machine...]',
    description: 'start stopped machines (default: all) and wait until they answer, with their services running again',
    load: async () => (await import('./power.js')).registerStart,
  },
  {
    name: 'checkpoint',
    args: '<action> [name]',
    description: 'save, restore, list or remove a checkpoint of every machine of the lab (restore verifies afterwards)',
    load: async () => (await import('./checkpoint.js')).registerCheckpoint,
  },
  {
    name: 'logs',
    args: '<machine> [log]',
    description: "show a machine's log: redis, app, build, sshd or console (default: its role's service)",
    load: async () => (await import('./logs.js')).registerLogs,
  },
  {
    name: 'recreate',
    args: '<machine>',
    description: 'remove one machine and make it again from nothing, then deploy it; the other machines are left running',
    load: async () => (await import('./recreate.js')).registerRecreate,
  },
  {
    name: 'open',
    args: '<machine>',
    description: "open a web machine's chat page in the desktop browser, or print its URL and an ssh -L line",
    load: async () => (await import('./open.js')).registerOpen,
  },
  {
    name: 'plan',
    args: '',
    description: 'list every step create and deploy would run, and whether each is already done',
    load: async () => (await import('./plan.js')).registerPlan,
  },
  {
    name: 'validate',
    args: '',
    description: 'check a lab spec: prints ok, or every problem as FILE:field: what is wrong',
    load: async () => (await import('./validate.js')).registerValidate,
  },
  {
    name: 'watch',
    args: '',
    description: "show the backplane traffic: every message the servers publish to Redis, decoded (the seed's redis-cli step)",
    load: async () => (await import('./watch.js')).registerWatch,
  },
  {
    name: 'redis-cli',
    args: '[args...]',
    description: "run the lab's own redis-cli against its Redis, authenticated without the password ever on a command line",
    passThrough: true,
    load: async () => (await import('./redis-cli.js')).registerRedisCli,
  },
  {
    name: 'ssh',
    args: '<machine> [command...]',
    description: 'open a shell on a machine (SSH; PowerShell Direct for a Windows VM on Hyper-V), or run a command there and exit with its code',
    passThrough: true,
    load: async () => (await import('./ssh.js')).registerSsh,
  },
  {
    name: 'teardown',
    args: '',
    description: 'remove everything the lab created (and only that), then check that nothing is left',
    load: async () => (await import('./teardown.js')).registerTeardown,
  },
  {
    name: 'cache',
    args: '<action>',
    description: 'list or prune the build cache: Redis builds kept on this host, installed instead of compiling again',
    load: async () => (await import('./cache.js')).registerCache,
  },
  {
    name: 'completion',
    args: '<shell>',
    description: 'print a completion script for bash, zsh or powershell (commands, options, machine and lab names)',
    load: async () => (await import('./completion.js')).registerCompletion,
  },
  {
    // what the completion scripts ask at Tab
    name: '__complete',
    args: '<what>',
    description: '',
    hidden: true,
    load: async () => (await import('./completion.js')).registerCompleteHelper,
  },
];

/** Options of labctl itself that take a value (the command word comes after them). */
export const VALUE_OPTIONS = ['--spec', '--provider', '--home', '--lab'];

/**
 * The command an argument list runs, found without loading any command: the first word that is
 * not a global option or its value. `help X` asks for X's help, so X is the one to load.
 */
export function commandOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    if (VALUE_OPTIONS.includes(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    if (a === 'help') return args.slice(i + 1).find((x) => !x.startsWith('-'));
    return a;
  }
  return undefined;
}
