/**
 * Bad command lines (issue 11, part 6), beyond the bad specs of spec.test.ts: unknown
 * machines, commands, options and providers, counts that are negative, zero, huge or not whole
 * numbers, missing, unreadable and wrong-kind files (a spec that is a folder, a home that is a
 * file), labs that are not there, two labs on one subnet. Each must exit 2 with one line that
 * says what is wrong (commander's own errors add their usage hint line), no stack trace, and
 * create nothing: the home given stays empty (or as it was), and no namespace or link of the
 * test's labs appears on the host.
 *
 * The CLI runs in this process (runCli), as root in CI: so "nothing created" is real. Unreadable
 * files need a user that root is not: those lines run as a child process under uid 65534.
 * The specs name subnets 198.18.24.0/24 and 198.18.25.0/24 (test/helpers/README.md), never created.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hasStackTrace, REPO_ROOT, runCli, type CliResult } from '../helpers/cli.js';
import { labNamespaces } from '../helpers/leftovers.js';
import { bridgeName } from '../../src/providers/netns/names.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-bad-input-'));
const spec = path.join(root, 'lab.yaml');
const other = path.join(root, 'other.yaml');
const folder = path.join(root, 'a-folder');
const file = path.join(root, 'a-file');
const secret = path.join(root, 'unreadable.yaml');
const secretTarball = path.join(root, 'unreadable.tar.gz');
const LAB = 'badin-a';
const HINT = '(run labctl --help for usage)';

function specText(name: string, subnet: string): string {
  const [a, b, c] = subnet.split('.');
  const ip = (n: number) => `${a}.${b}.${c}.${n}`;
  return [
    `name: ${name}`,
    'provider: netns',
    `network: { subnet: ${subnet} }`,
    'redis: { version: 7.0.15 }',
    'machines:',
    `  redis: { role: redis, os: ubuntu, ip: ${ip(10)} }`,
    `  web1: { role: web, os: windows, ip: ${ip(11)} }`,
    '',
  ].join('\n');
}

before(() => {
  writeFileSync(spec, specText(LAB, '198.18.24.0/24'));
  writeFileSync(other, specText('badin-b', '198.18.24.0/25'));
  mkdirSync(folder);
  writeFileSync(file, 'not a folder\n');
  writeFileSync(secret, specText(LAB, '198.18.24.0/24'), { mode: 0o600 });
  writeFileSync(secretTarball, 'x', { mode: 0o600 });
  chmodSync(root, 0o755);
});
after(() => rmSync(root, { recursive: true, force: true }));

interface Case {
  /** the command line after `labctl`; SPEC and HOME are replaced by the case's files */
  args: string[];
  /** the one line (stderr, or stdout for validate and --json) that says what is wrong */
  line: RegExp;
  /** the --json error code, when the case is run with --json */
  code?: string;
  /** make the home hold something first (the home then must stay as it was) */
  setup?: (home: string) => void;
  /** run as uid 65534 in a child process (for files root could read) */
  asNobody?: boolean;
  env?: Record<string, string>;
}

const CASES: Case[] = [
  // counts: negative, zero, huge, not whole numbers, missing
  { args: ['verify', '--clients', '-1'], line: /option '--clients <n>' argument '-1' is invalid\. must be a whole number from 1 to 200/ },
  { args: ['verify', '--clients', '0'], line: /'--clients <n>' argument '0' is invalid/ },
  { args: ['verify', '--clients', '99999999999'], line: /'--clients <n>' argument '99999999999' is invalid/ },
  { args: ['verify', '--clients', 'abc'], line: /'--clients <n>' argument 'abc' is invalid/ },
  { args: ['verify', '--clients', '2.5'], line: /'--clients <n>' argument '2\.5' is invalid/ },
  { args: ['verify', '--clients', '0x10'], line: /'--clients <n>' argument '0x10' is invalid/ },
  { args: ['verify', '--clients', ''], line: /'--clients <n>' argument '' is invalid/ },
  { args: ['up', '--clients', '201'], line: /'--clients <n>' argument '201' is invalid\. must be a whole number from 1 to 200/ },
  { args: ['up', '--clients'], line: /option '--clients <n>' argument missing/ },
  { args: ['verify', '--messages', '-5'], line: /'--messages <n>' argument '-5' is invalid\. must be a whole number from 1 to 10000/ },
  { args: ['verify', '--messages', '0'], line: /'--messages <n>' argument '0' is invalid/ },
  { args: ['up', '--messages', '100000000'], line: /'--messages <n>' argument '100000000' is invalid/ },
  { args: ['verify', '--messages', '1e2'], line: /'--messages <n>' argument '1e2' is invalid/ },
  { args: ['verify', '--rate', '0'], line: /'--rate <n>' argument '0' is invalid\. must be a whole number from 1 to 100000/ },
  { args: ['verify', '--rate', '-1'], line: /'--rate <n>' argument '-1' is invalid/ },
  { args: ['up', '--rate', 'fast'], line: /'--rate <n>' argument 'fast' is invalid/ },
  { args: ['verify', '--rate', '1e12'], line: /'--rate <n>' argument '1e12' is invalid/ },
  { args: ['watch', '--count', '-1'], line: /'--count <n>' argument '-1' is invalid/ },
  { args: ['watch', '--count', '0'], line: /'--count <n>' argument '0' is invalid/ },
  { args: ['watch', '--for', 'soon'], line: /'--for <seconds>' argument 'soon' is invalid/ },
  { args: ['logs', 'web1', '-n', '-3'], line: /'-n, --lines <n>' argument '-3' is invalid/ },
  { args: ['--json', 'verify', '--clients', '-1'], line: /"code":"USAGE".*'--clients <n>' argument '-1' is invalid/, code: 'USAGE' },
  // machines, commands, options, arguments
  { args: ['ssh', 'nosuch'], line: /^labctl: no machine named "nosuch" in lab badin-a \(machines: redis, web1\)$/ },
  { args: ['deploy', 'nosuch'], line: /^labctl: no machine named "nosuch" in lab badin-a/ },
  { args: ['logs', 'nosuch'], line: /^labctl: no machine named "nosuch" in lab badin-a/ },
  { args: ['--json', 'ssh', 'nosuch'], line: /"code":"MACHINE_UNKNOWN"/, code: 'MACHINE_UNKNOWN' },
  { args: ['ssh'], line: /^error: missing required argument 'machine'$/ },
  { args: ['logs', 'web1', 'nosuchlog'], line: /^labctl: unknown log "nosuchlog": one of redis, app, build, sshd, console$/ },
  { args: ['bogus-command'], line: /^error: unknown command 'bogus-command'$/ },
  { args: ['up', '--bogus-option'], line: /^error: unknown option '--bogus-option'$/ },
  { args: ['status', 'extra'], line: /^error: too many arguments for 'status'/ },
  { args: ['teardown', 'now'], line: /^error: too many arguments for 'teardown'/ },
  { args: ['completion', 'fish'], line: /^labctl: labctl completion fish: the shell is one of bash, zsh, powershell$/ },
  { args: ['checkpoint', 'save', 'bad name!'], line: /^labctl: checkpoint name "bad name!": use letters, digits/ },
  // providers
  { args: ['--provider', 'vmware', 'status'], line: /^error: option '--provider <name>' argument 'vmware' is invalid\. Allowed choices are netns, hyperv\.$/ },
  { args: ['--provider', '', 'up'], line: /'--provider <name>' argument '' is invalid/ },
  { args: ['--provider', 'NETNS', 'create'], line: /'--provider <name>' argument 'NETNS' is invalid/ },
  { args: ['--provider', 'hyperv', 'create'], line: /^labctl: \S+lab\.yaml:hyperv: the hyperv provider needs a hyperv: block/ },
  // files: missing, a folder, empty, unreadable, a home that is a file
  { args: ['--spec', '/nonexistent/lab.yaml', 'up'], line: /^labctl: \/nonexistent\/lab\.yaml: cannot read the spec: no such file$/ },
  { args: ['--spec', folder, 'up'], line: /^labctl: \S+a-folder: cannot read the spec: is a directory$/ },
  { args: ['--spec', folder, 'validate'], line: /^\S+a-folder: cannot read the spec: is a directory$/ },
  { args: ['--spec', '', 'up'], line: /^labctl: --spec is empty: give a spec file/ },
  { args: ['--spec', secret, 'validate'], line: /^\S+unreadable\.yaml: cannot read the spec: permission denied$/, asNobody: true },
  { args: ['--spec', secret, 'create'], line: /^labctl: \S+unreadable\.yaml: cannot read the spec: permission denied$/, asNobody: true },
  { args: ['deploy', '--redis-tarball', '/nonexistent/redis.tar.gz'], line: /^error: option '--redis-tarball <file>' argument '\/nonexistent\/redis\.tar\.gz' is invalid\. no such file$/ },
  { args: ['up', '--redis-tarball', folder], line: /'--redis-tarball <file>' argument '\S+a-folder' is invalid\. is a folder, not a file$/ },
  { args: ['up', '--redis-tarball', secretTarball], line: /'--redis-tarball <file>' argument '\S+unreadable\.tar\.gz' is invalid\. permission denied$/, asNobody: true },
  { args: ['--home', file, 'status'], line: /^labctl: --home \S+a-file: is a file, not a folder$/ },
  { args: ['--home', file, 'create'], line: /^labctl: --home \S+a-file: is a file, not a folder$/ },
  { args: ['--home', path.join(file, 'sub'), 'up'], line: /^labctl: --home \S+a-file\/sub: \S+a-file is a file, not a folder$/ },
  { args: ['--home', '', 'status'], line: /^labctl: --home is empty/ },
  { args: ['status'], line: /^labctl: --home \S+a-file: is a file, not a folder$/, env: { LABCTL_HOME: file } },
  { args: ['--json', '--home', file, 'plan'], line: /"code":"USAGE".*is a file, not a folder/, code: 'USAGE' },
  // labs that are not there, or in the way
  { args: ['--lab', 'Bad_Name', 'status'], line: /^labctl: --lab "Bad_Name" is not a lab name/ },
  { args: ['--lab', 'nosuch', 'teardown', '--yes'], line: /^labctl: no lab nosuch under \S+ \(labctl ls lists the labs there\)$/ },
  { args: ['deploy'], line: /^labctl: lab badin-a is not up \(redis is missing, web1 is missing\): run labctl create first/ },
  { args: ['verify'], line: /^labctl: lab badin-a is not created: run labctl up$/ },
  { args: ['redis-cli', 'PING'], line: /^labctl: lab badin-a has no Redis yet: run labctl deploy$/ },
  { args: ['--json', 'ssh', 'web1', 'true'], line: /"code":"LAB_NOT_CREATED"/, code: 'LAB_NOT_CREATED' },
  {
    args: ['--spec', other, 'create'],
    line: /^labctl: network\.subnet 198\.18\.24\.0\/25 of lab badin-b \(\S+\) overlaps lab badin-a's 198\.18\.24\.0\/24 \(\S+\): choose another subnet, or remove lab badin-a first \(labctl --lab badin-a teardown\)$/,
    setup: (home) => fakeLab(home, 'badin-a', '198.18.24.0/24'),
  },
  {
    args: ['--spec', other, 'up'],
    line: /overlaps lab badin-a's 198\.18\.24\.0\/24/,
    setup: (home) => fakeLab(home, 'badin-a', '198.18.24.0/24'),
  },
  {
    args: ['teardown'],
    line: /^labctl: teardown removes the whole lab: give --yes to confirm when not on a terminal$/,
    setup: (home) => fakeLab(home, LAB, '198.18.24.0/24', [{ kind: 'dir', id: path.join(home, 'labs', LAB, 'machines', 'redis'), at: 'x' }]),
  },
];

/** A lab in the home as labctl leaves it after create (its journal and its spec copy), made by hand. */
function fakeLab(home: string, name: string, subnet: string, resources: unknown[] = []): void {
  const dir = path.join(home, 'labs', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'spec.yaml'), specText(name, subnet));
  const now = new Date().toISOString();
  writeFileSync(
    path.join(dir, 'state.json'),
    JSON.stringify({ version: 1, lab: name, provider: 'netns', spec: { file: path.join(root, `${name}.yaml`), hash: 'x' }, createdAt: now, updatedAt: now, steps: {}, resources, facts: {} }),
  );
}

/** Every path under a folder with its size and mode: what "as it was" means. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      const s = statSync(full);
      out.push(`${path.relative(dir, full)} ${s.size} ${(s.mode & 0o7777).toString(8)}`);
      if (e.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

function asNobody(args: string[]): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/helpers/scripts/labctl-src.ts'), ...args], {
      cwd: REPO_ROOT,
      uid: 65534,
      gid: 65534,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

async function runCase(c: Case, home: string): Promise<CliResult> {
  const args = [
    ...(c.args.includes('--spec') || c.args.includes('--lab') ? [] : ['--spec', spec]),
    ...(c.args.includes('--home') || c.env?.LABCTL_HOME ? [] : ['--home', home]),
    ...c.args,
  ];
  if (c.asNobody) return asNobody(args);
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(c.env ?? {})) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  try {
    return await runCli(args);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('bad command lines: exit 2, one clear line, nothing created', () => {
  test(`there are at least 40 of them (${CASES.length})`, () => assert.ok(CASES.length >= 40));

  for (const c of CASES) {
    test(`labctl ${c.args.map((a) => (a === '' ? "''" : a.replace(root, '…'))).join(' ')}${c.asNobody ? ' (as nobody)' : ''}${c.env ? ` (${Object.keys(c.env).join(', ')} set)` : ''}`, async (t) => {
      if (c.asNobody && process.getuid?.() !== 0) return t.skip('needs root to run as another user');
      const home = mkdtempSync(path.join(root, 'home-'));
      chmodSync(home, 0o777);
      c.setup?.(home);
      const before = snapshot(home);
      const r = await runCase(c, home);
      const shown = `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
      assert.equal(r.code, 2, shown);
      assert.ok(!hasStackTrace(r.stdout + r.stderr), `stack trace:\n${shown}`);
      // the message: stdout for validate and --json, stderr otherwise; commander's errors add
      // their usage hint, and with --json they print their line on stderr too
      const json = c.args.includes('--json');
      const where = json || c.args.includes('validate') ? r.stdout : r.stderr;
      const lines = where.split('\n').filter((l) => l.trim() !== '' && l !== HINT);
      assert.equal(lines.length, 1, `one line, got ${lines.length}:\n${shown}`);
      assert.match(lines[0]!, c.line, shown);
      if (json) {
        const doc = JSON.parse(r.stdout);
        assert.equal(doc.ok, false);
        assert.equal(doc.code, c.code);
        assert.equal(doc.exitCode, 2);
      } else if (where === r.stdout) assert.equal(r.stderr, '', shown);
      else assert.equal(r.stdout, '', shown);
      assert.deepEqual(snapshot(home), before, 'the home is as it was: nothing created');
    });
  }

  test('nothing of the labs named here exists on the host', () => {
    const links = readFileSync('/proc/net/dev', 'utf8');
    for (const name of [LAB, 'badin-b']) {
      assert.deepEqual(labNamespaces({ name, subnet: '198.18.24.0/24', home: root }), [], name);
      assert.ok(!links.includes(`${bridgeName(name)}:`), `no bridge of ${name}`);
    }
  });
});
