/**
 * A netns lab for one test: a temporary folder with its own spec (a unique lab name, a /24
 * from 198.18.0.0/15 given by the test) and its own LABCTL_HOME, CLI shortcuts bound to both,
 * and a cleanup that always runs: `labctl teardown --yes`, then a forced removal of anything
 * still there (see leftovers.ts), then the temporary folder.
 *
 *     await withLab({ subnet: '198.18.10.0/24' }, async (lab) => {
 *       await lab.create();                               // asserts exit 0
 *       const r = await lab.ssh('web1', 'echo hi');       // labctl ssh web1 -- echo hi
 *       assert.deepEqual(lab.leftovers(), []);            // after lab.teardown()
 *     });
 *
 * For a lab shared by several tests: `const lab = await createLabFixture(...)` in before(),
 * `await lab.cleanup()` in after().
 *
 * Subnets: each test file picks its own /24s (see test/helpers/README.md for who owns which).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseCidr, formatIPv4 } from '../../src/spec/ipv4.js';
import { describeResult, labctl, startLabctl, type CliResult, type LabctlOptions } from './cli.js';
import { forceCleanup, labDir, leftovers, namespaceInodes, type LabIdentity } from './leftovers.js';

export interface MachineOptions {
  role: 'redis' | 'web' | 'lb';
  os: 'ubuntu' | 'windows';
  /** default: .10, .11, ... of the subnet in spec order */
  ip?: string;
}

export interface LabOptions {
  /** a /24 inside 198.18.0.0/15 that no other test uses, e.g. 198.18.10.0/24 */
  subnet: string;
  /** start of the lab name (lowercase letters, digits, "-"); a random suffix is added. Default "lt" */
  prefix?: string;
  /** default: the seed lab's redis (ubuntu), web1 and web2 (windows stand-ins) */
  machines?: Record<string, MachineOptions>;
  /** edit the spec object before it is written (redis source, app port, nat, ...) */
  patchSpec?: (spec: Record<string, any>) => void;
  /** fail the test when cleanup had to force-remove something labctl teardown left (default true) */
  strictCleanup?: boolean;
}

export interface LabFixture extends LabIdentity {
  /** temporary folder holding the spec and the home; removed by cleanup() */
  root: string;
  specFile: string;
  /** <home>/labs/<name>: the lab's state folder */
  dir: string;
  stateFile: string;
  /** e.g. "198.18.10" */
  prefix24: string;
  gateway: string;
  machines: { name: string; role: string; os: string; ip: string }[];
  ip(machine: string): string;
  /** `labctl --spec SPEC --home HOME ...args` as a child process */
  cli(args: string[], opts?: LabctlOptions): Promise<CliResult>;
  /** same, started and handed back (for tests that kill it part-way) */
  start(args: string[], opts?: LabctlOptions): ReturnType<typeof startLabctl>;
  /** `labctl ssh MACHINE -- COMMAND` (COMMAND is run by the machine's shell) */
  ssh(machine: string, command: string, opts?: LabctlOptions): Promise<CliResult>;
  /** `labctl create`; asserts exit 0 and remembers the namespaces' inodes */
  create(opts?: LabctlOptions): Promise<CliResult>;
  /** `labctl teardown --yes`; asserts exit 0 */
  teardown(opts?: LabctlOptions): Promise<CliResult>;
  /** records the inodes of the lab's namespaces now present, for leftovers() to find processes left in them */
  rememberNamespaces(): Map<string, number>;
  /** the state journal as labctl wrote it, or undefined */
  readState(): any;
  /** what of the lab is still on the host (see leftovers.ts); [] when nothing */
  leftovers(): string[];
  /** teardown + forced removal + temp folder; returns what had to be forced */
  cleanup(): Promise<string[]>;
}

const TEST_RANGE = parseCidr('198.18.0.0/15').subnet!;

export async function createLabFixture(opts: LabOptions): Promise<LabFixture> {
  const parsed = parseCidr(opts.subnet).subnet;
  if (!parsed || parsed.prefix !== 24 || parsed.network < TEST_RANGE.network || parsed.broadcast > TEST_RANGE.broadcast) {
    throw new Error(`test labs use a /24 inside 198.18.0.0/15 (got ${opts.subnet})`);
  }
  const prefix24 = formatIPv4(parsed.network).split('.').slice(0, 3).join('.');
  const name = `${opts.prefix ?? 'lt'}-${prefix24.split('.')[2]}-${randomBytes(2).toString('hex')}`;
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(name)) throw new Error(`lab name ${name} is not valid: use a shorter prefix`);

  const root = mkdtempSync(path.join(os.tmpdir(), `labctl-test-${name}-`));
  const home = path.join(root, 'home');
  const specFile = path.join(root, 'lab.yaml');
  const machineOpts = opts.machines ?? {
    redis: { role: 'redis', os: 'ubuntu' },
    web1: { role: 'web', os: 'windows' },
    web2: { role: 'web', os: 'windows' },
  };
  const machines = Object.entries(machineOpts).map(([m, o], i) => ({ name: m, role: o.role, os: o.os, ip: o.ip ?? `${prefix24}.${10 + i}` }));
  const spec: Record<string, any> = {
    name,
    provider: 'netns',
    network: { subnet: opts.subnet },
    redis: { version: '7.0.15', port: 6379, channel: 'ChatApp', source: 'auto' },
    app: { port: 80 },
    machines: Object.fromEntries(machines.map((m) => [m.name, { role: m.role, os: m.os, ip: m.ip }])),
  };
  opts.patchSpec?.(spec);
  writeFileSync(specFile, stringify(spec));

  const inodes = new Set<number>();
  const identity: LabIdentity = { name, subnet: opts.subnet, home, extraDirs: [root], namespaceInodes: inodes };
  const dir = labDir(identity);
  const env = { LABCTL_HOME: home };
  const withLab = (args: string[]) => ['--spec', specFile, '--home', home, ...args];

  const fixture: LabFixture = {
    ...identity,
    namespaceInodes: inodes,
    root,
    specFile,
    dir,
    stateFile: path.join(dir, 'state.json'),
    prefix24,
    gateway: `${prefix24}.1`,
    machines,
    ip(machine) {
      const m = machines.find((x) => x.name === machine);
      if (!m) throw new Error(`no machine ${machine} in the test lab`);
      return m.ip;
    },
    cli(args, o = {}) {
      return labctl(withLab(args), { ...o, env: { ...env, ...o.env } });
    },
    start(args, o = {}) {
      return startLabctl(withLab(args), { ...o, env: { ...env, ...o.env } });
    },
    ssh(machine, command, o) {
      return fixture.cli(['ssh', machine, '--', command], o);
    },
    async create(o) {
      const r = await fixture.cli(['create'], o);
      fixture.rememberNamespaces();
      assert.equal(r.code, 0, `labctl create failed: ${describeResult(r)}`);
      return r;
    },
    async teardown(o) {
      fixture.rememberNamespaces();
      const r = await fixture.cli(['teardown', '--yes'], o);
      assert.equal(r.code, 0, `labctl teardown failed: ${describeResult(r)}`);
      return r;
    },
    rememberNamespaces() {
      const found = namespaceInodes(identity);
      for (const ino of found.values()) inodes.add(ino);
      return found;
    },
    readState() {
      try {
        return JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'));
      } catch {
        return undefined;
      }
    },
    leftovers() {
      return leftovers(identity);
    },
    async cleanup() {
      fixture.rememberNamespaces();
      let forced: string[] = [];
      try {
        if (fixture.leftovers().length > 0) await labctl(withLab(['teardown', '--yes']), { env, timeoutMs: 60_000 });
      } finally {
        forced = forceCleanup(identity);
        rmSync(root, { recursive: true, force: true });
      }
      return forced;
    },
  };
  return fixture;
}

/**
 * Runs `fn` with a fresh lab and always cleans up, even when `fn` throws. When `fn` succeeded
 * but labctl's teardown left something that had to be forced away, the test fails (unless
 * strictCleanup is false).
 */
export async function withLab<T>(opts: LabOptions, fn: (lab: LabFixture) => Promise<T>): Promise<T> {
  const lab = await createLabFixture(opts);
  let ok = false;
  try {
    const value = await fn(lab);
    ok = true;
    return value;
  } finally {
    const forced = await lab.cleanup();
    if (ok && forced.length > 0 && opts.strictCleanup !== false) {
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`cleanup of lab ${lab.name} had to force-remove what labctl teardown left:\n  ${forced.join('\n  ')}`);
    }
  }
}
