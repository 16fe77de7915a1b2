/**
 * Issue 11, part 1 end to end: SIGINT or SIGTERM at 13 points of `create`, `deploy`, `up` and
 * `teardown` on a real netns lab (through the real CLI, `node bin/labctl`, so build first).
 * At each point labctl must end within 2 s with the code of the signal (130 / 143), say what
 * it stopped and how to resume, release the lab's lock and leave nothing of its own running
 * (no make, cc1, shell or apt-get: only the machines' sshd and services may live on); then
 * `up` resumes and passes, and `teardown` leaves nothing (test/helpers/leftovers.ts).
 *
 * Compiling Redis takes about a minute, so the test shares one build: the first two points
 * interrupt real builds (early, in Redis's dependencies: the resume builds from a fresh tree;
 * late, in src/: the resume continues the interrupted tree), and the install the first resume
 * makes is kept; the other points start with it copied into the redis machine's folder, where
 * the role finds the same version and source hash installed and skips the build (as it does
 * for any lab that has it). Measured on 2 cores: see the README of this folder's tests.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { describeResult, hasStackTrace, type CliResult } from '../helpers/cli.js';
import { GiveUp, sleep, waitFor } from '../helpers/wait.js';
import { namespaceName } from '../../src/providers/netns/names.js';

const VERSION = '7.0.15';
const QUICK_VERIFY = ['--clients', '1', '--messages', '10'];
let lab: LabFixture;
let env: Record<string, string>;
/** the install of the first full build, shared by the later points */
let builtPrefix: string;

const machineDir = (m: string) => path.join(lab.dir, 'machines', m);
const prefixOf = () => path.join(machineDir('redis'), 'opt/redis', VERSION);
const buildLog = () => path.join(machineDir('redis'), 'var/log/labctl/redis-build.log');
const readText = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};
/** the compile lines in the build log so far (Redis's make colours them) */
const compiled = () => (readText(buildLog()).replace(/\x1b\[[0-9;]*m/g, '').match(/^\s*CC\s/gm) ?? []).length;

interface Running {
  /** ms since the command started */
  since(): number;
  stderr(): string;
  exited(): boolean;
  done: Promise<CliResult>;
  kill(signal: NodeJS.Signals): void;
}

function start(args: string[]): Running {
  const child = lab.start(args, { env });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let exited = false;
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  const started = Date.now();
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started });
    });
  });
  return { since: () => Date.now() - started, stderr: () => Buffer.concat(err).toString('utf8'), exited: () => exited, done, kill: (s) => child.kill(s) };
}

/**
 * Processes of this lab that are not its machines' sshd and services: what an interrupted
 * labctl must not leave running (its make, cc1, shells, apt-get, an SSH session's shell).
 * Found by working folder or command line inside the test's folder.
 */
function strays(): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmd = '';
    let cwd = '';
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      cwd = readlinkSync(`/proc/${entry}/cwd`);
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) === 'Z') continue;
    } catch {
      continue;
    }
    if (!cmd.includes(lab.root) && !cwd.startsWith(lab.root)) continue;
    // the machines themselves: their sshd, Redis and the chat app
    if (/\/sshd -f \S+sshd_config/.test(cmd) || /redis-server /.test(cmd) || /node server\.cjs$/.test(cmd)) continue;
    out.push(`${entry} (cwd ${cwd}): ${cmd}`);
  }
  return out;
}

/**
 * A source tarball shaped like Redis's whose build ignores SIGTERM (make's child shell and
 * its sleep), so that stopping it takes labctl's whole wait before the SIGKILL.
 */
function stubbornTarball(dir: string): string {
  const top = path.join(dir, 'stubborn', 'redis-7.0.15');
  mkdirSync(top, { recursive: true });
  writeFileSync(path.join(top, 'Makefile'), "all:\n\t@echo '    CC labctl-test-stubborn-build'; trap '' TERM; sleep 60\n");
  writeFileSync(path.join(top, 'redis.conf'), '# stub\n');
  const out = path.join(dir, 'stubborn-redis.tar.gz');
  execFileSync('tar', ['-czf', out, '-C', path.dirname(top), 'redis-7.0.15']);
  return out;
}

const haveBuild = () => existsSync(path.join(builtPrefix, '.labctl-build.json'));

/**
 * Puts the shared build's install where the redis machine's build step looks for it. Without
 * one (points 1-2 failed, or were not run) the point's resume compiles, and its install is
 * kept for the next points (see keepBuild).
 */
function seedBuild(): void {
  if (!haveBuild()) return;
  mkdirSync(path.dirname(prefixOf()), { recursive: true });
  cpSync(builtPrefix, prefixOf(), { recursive: true, preserveTimestamps: true });
}

function keepBuild(): void {
  if (haveBuild() || !existsSync(path.join(prefixOf(), '.labctl-build.json'))) return;
  cpSync(prefixOf(), builtPrefix, { recursive: true, preserveTimestamps: true });
}

interface Point {
  name: string;
  command: 'up' | 'create' | 'deploy' | 'teardown';
  /** after the command */
  args?: string[];
  signal: NodeJS.Signals;
  /** what is there before the command starts */
  setup?: 'created' | 'up';
  /** start with the shared build installed */
  seed?: boolean;
  /** true at the moment to signal */
  when: (r: Running) => boolean;
  /** then wait this long */
  delayMs?: number;
  /** a second SIGINT this long after the first (must exit at once) */
  secondAfterMs?: number;
  /** checks right after the interrupted command ended */
  after?: (r: CliResult) => void;
  /** checks of the resuming `up --json` */
  resumed?: (up: any, r: CliResult) => void;
  /** the resume is the next point's command (itself interrupted): no resume, no teardown here */
  chained?: boolean;
}

const stderrHas = (text: string | RegExp) => (r: Running) => (typeof text === 'string' ? r.stderr().includes(text) : text.test(r.stderr()));

/** One point; a failed one leaves the lab torn down, so the next starts from nothing. */
async function interruptAt(t: { diagnostic(msg: string): void }, point: Point): Promise<void> {
  try {
    await cycle(t, point);
  } catch (err) {
    const td = await lab.cli(['teardown', '--yes'], { env, timeoutMs: 120_000 }).catch(() => undefined);
    if (td?.code !== 0) t.diagnostic(`teardown after the failure: ${td ? describeResult(td) : 'did not run'}`);
    throw err;
  }
}

async function cycle(t: { diagnostic(msg: string): void }, point: Point): Promise<void> {
  const t0 = Date.now();
  if (point.seed) seedBuild();
  if (point.setup === 'created') await lab.create({ env });
  if (point.setup === 'up') {
    const up = await lab.cli(['up', ...QUICK_VERIFY], { env, timeoutMs: 300_000 });
    assert.equal(up.code, 0, describeResult(up));
  }
  lab.rememberNamespaces();
  const run = start([point.command, ...(point.args ?? []), ...(point.command === 'teardown' ? ['--yes'] : [])]);
  await waitFor(point.name, () => {
    lab.rememberNamespaces();
    if (run.exited()) throw new GiveUp(`labctl ${point.command} ended before ${point.name}:\n${run.stderr()}`);
    return point.when(run);
  }, { timeoutMs: 300_000, intervalMs: 10 });
  if (point.delayMs) await sleep(point.delayMs);
  lab.rememberNamespaces();
  const signalled = Date.now();
  run.kill(point.signal);
  let second = 0;
  if (point.secondAfterMs !== undefined) {
    await sleep(point.secondAfterMs);
    if (!run.exited()) {
      second = Date.now();
      run.kill('SIGINT');
    }
  }
  const r = await run.done;
  const ended = Date.now();
  const within = ended - signalled;
  assert.equal(r.signal, null, `labctl handled ${point.signal} itself:\n${describeResult(r)}`);
  assert.equal(r.code, point.signal === 'SIGINT' ? 130 : 143, describeResult(r));
  assert.ok(within < 2000, `labctl ended ${within} ms after ${point.signal} (at most 2000):\n${describeResult(r)}`);
  if (second) assert.ok(ended - second < 500, `a second signal exits at once (${ended - second} ms)`);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  if (point.secondAfterMs === undefined) {
    const verb = point.command === 'teardown' ? 'finish' : 'resume';
    assert.match(r.stderr, new RegExp(`labctl: ${point.command} interrupted by ${point.signal}: `));
    assert.match(r.stderr, new RegExp(`to ${verb}: labctl --spec \\S+ --home \\S+ ${point.command}`));
    if (point.command !== 'teardown') assert.match(r.stderr, /to remove it instead: labctl --spec \S+ --home \S+ teardown/);
  } else assert.match(r.stderr, /SIGINT again: exiting now/);
  assert.ok(!existsSync(path.join(lab.dir, 'lock')), 'the lab lock was released');
  // what labctl started on the machines and the host is gone (an SSH session's shell may take a moment)
  let left: string[] = [];
  for (const deadline = Date.now() + 1500; Date.now() < deadline; await sleep(50)) if ((left = strays()).length === 0) break;
  assert.deepEqual(left, [], 'nothing labctl started is left running');
  point.after?.(r);
  const stopped = /stopped what was under way \((.*)\)/.exec(r.stderr)?.[1] ?? (/nothing was under way/.test(r.stderr) ? '-' : '?');
  const what = `${point.name}: labctl ${point.command} ${point.signal} → exit ${r.code} in ${within} ms; stopped: ${stopped.replace(lab.dir, '<lab>')}`;
  if (point.chained) {
    t.diagnostic(`${what}; resumed by the next point (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return;
  }

  // resume: up passes
  const t1 = Date.now();
  const up = await lab.cli(['up', '--json', ...QUICK_VERIFY], { env, timeoutMs: 400_000 });
  lab.rememberNamespaces();
  assert.equal(up.code, 0, `up after ${point.name}: ${describeResult(up)}`);
  const report = JSON.parse(up.stdout);
  assert.equal(report.ok, true);
  for (const c of report.verify.checks) assert.equal(c.ok, true, `${c.name}: ${c.reason}`);
  point.resumed?.(report, up);
  keepBuild();
  const resumeMs = Date.now() - t1;

  // and teardown leaves nothing
  const td = await lab.cli(['teardown', '--yes'], { env, timeoutMs: 120_000 });
  assert.equal(td.code, 0, describeResult(td));
  assert.deepEqual(lab.leftovers(), [], `leftovers after ${point.name}`);
  // those namespaces are gone: forget their inodes, which the kernel gives to new namespaces
  // (another test's, running meanwhile, would otherwise look like this lab's)
  lab.namespaceInodes?.clear();
  t.diagnostic(`${what}; up resumed in ${(resumeMs / 1000).toFixed(1)} s; cycle ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

describe('interrupted create, deploy, up and teardown on netns: stop within 2 s, resume, teardown leaves nothing', { timeout: 1_500_000 }, () => {
  before(async () => {
    lab = await createLabFixture({ subnet: '198.18.130.0/24', prefix: 'int' });
    // downloads (the distribution's source package) once for every point
    env = { LABCTL_CACHE: path.join(lab.root, 'cache') };
    // LABCTL_TEST_REDIS_PREFIX: an install made by labctl (with its .labctl-build.json), to run
    // single points by name without points 1-2 (while working on the test)
    builtPrefix = process.env.LABCTL_TEST_REDIS_PREFIX ?? path.join(lab.root, 'built-redis');
  });
  after(async () => {
    const forced = await lab.cleanup();
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  // One build for both make points: the deploy that resumes the early interruption is itself
  // interrupted late in its (fresh) build, and the up after it continues that build.
  it('1-2. up, SIGINT early in make (in Redis\'s dependencies); deploy (resuming it from a fresh tree), SIGTERM late in make; up continues the build', async (t) => {
    const buildTree = () => path.join(machineDir('redis'), 'var/lib/labctl/redis-build/build');
    await interruptAt(t, {
      name: 'early in make',
      command: 'up',
      signal: 'SIGINT',
      when: () => /MAKE.*hiredis/.test(readText(buildLog())),
      delayMs: 300,
      after: (r) => {
        assert.match(r.stderr, /redis: build Redis/);
        assert.ok(!existsSync(path.join(buildTree(), 'src/.make-prerequisites')), 'interrupted before the dependencies were built');
      },
      chained: true,
    });
    let at = 0;
    let sources = 0;
    await interruptAt(t, {
      name: 'late in make',
      command: 'deploy',
      signal: 'SIGTERM',
      when: () => {
        // the compile lines of a whole build: one per C file of src/, less a couple
        sources ||= existsSync(path.join(buildTree(), 'src')) ? readdirSync(path.join(buildTree(), 'src')).filter((f) => f.endsWith('.c')).length : 0;
        return sources > 50 && (at = compiled()) >= Math.floor(sources * 0.85);
      },
      after: () => {
        const log = readText(buildLog());
        assert.doesNotMatch(log, /continuing the interrupted build/, 'the deploy after the early interruption built from a fresh tree');
      },
      resumed: () => {
        const log = readText(buildLog());
        assert.match(log, /continuing the interrupted build/);
        const rest = compiled();
        assert.ok(rest <= sources - at + 2, `the resume compiled only what was left (${rest}; ${at} of about ${sources} were done)`);
      },
    });
  });

  it('3. up, SIGINT while the namespaces are being made', async (t) => {
    await interruptAt(t, {
      name: 'namespace creation',
      command: 'up',
      signal: 'SIGINT',
      seed: true,
      when: () => lab.machines.some((m) => existsSync(`/run/netns/${namespaceName(lab.name, m.name)}`)),
    });
  });

  it('4. create, SIGTERM as the first sshd starts', async (t) => {
    await interruptAt(t, {
      name: 'sshd start',
      command: 'create',
      signal: 'SIGTERM',
      seed: true,
      when: () => lab.machines.some((m) => existsSync(path.join(machineDir(m.name), 'run/sshd.pid'))),
    });
  });

  it('5. up, SIGINT between create and deploy', async (t) => {
    await interruptAt(t, { name: 'create/deploy boundary', command: 'up', signal: 'SIGINT', seed: true, when: stderrHas(/^deploy /m) });
  });

  it('6. deploy, SIGINT while the host fetches the Redis source (apt-get)', async (t) => {
    const aptRunning = () => {
      const r = spawnSync('pgrep', ['-f', `apt-get .*${env.LABCTL_CACHE}`], { encoding: 'utf8' });
      return r.status === 0 && r.stdout.trim() !== '';
    };
    await interruptAt(t, {
      name: 'Redis source fetch',
      command: 'deploy',
      signal: 'SIGINT',
      setup: 'created',
      seed: true,
      when: aptRunning,
      after: (r) => {
        assert.match(r.stderr, /redis: Redis 7\.0\.15 source/);
        assert.equal(aptRunning(), false, 'apt-get was stopped');
      },
    });
  });

  it('7. up, SIGTERM during the upload of the chat app', async (t) => {
    await interruptAt(t, { name: 'app upload', command: 'up', signal: 'SIGTERM', seed: true, when: stderrHas('… web1: upload the chat app bundle') });
  });

  it('8. up, SIGINT as redis-server starts', async (t) => {
    await interruptAt(t, { name: 'Redis service start', command: 'up', signal: 'SIGINT', seed: true, when: stderrHas('… redis: redis-server running') });
  });

  it('9. up, SIGINT during verify', async (t) => {
    await interruptAt(t, { name: 'verify', command: 'up', signal: 'SIGINT', seed: true, when: stderrHas(/^verify /m), delayMs: 300 });
  });

  it('10. create, SIGINT 100 ms into the create steps', async (t) => {
    await interruptAt(t, { name: '100 ms into create', command: 'create', signal: 'SIGINT', seed: true, when: stderrHas(/^create /m), delayMs: 100 });
  });

  it('11. up, SIGTERM 2.5 s after the start', async (t) => {
    await interruptAt(t, { name: '2.5 s into up', command: 'up', signal: 'SIGTERM', seed: true, when: (r) => r.since() > 2500 });
  });

  it('12. deploy, a second Ctrl-C exits at once (while the first waits for a build that ignores SIGTERM)', async (t) => {
    const tarball = stubbornTarball(lab.root);
    await interruptAt(t, {
      name: 'double Ctrl-C',
      command: 'deploy',
      args: ['--redis-tarball', tarball],
      signal: 'SIGINT',
      setup: 'created',
      seed: true,
      when: () => /labctl-test-stubborn-build/.test(readText(buildLog())),
      secondAfterMs: 200,
    });
  });

  it('13. teardown, SIGINT after the first removal: the resume (up) rebuilds the lab, then teardown finishes', async (t) => {
    await interruptAt(t, {
      name: 'teardown half-way',
      command: 'teardown',
      signal: 'SIGINT',
      setup: 'up',
      seed: true,
      when: stderrHas('✓ removed'),
    });
  });
});
