/**
 * State: atomic writes survive a kill mid-write; the lab lock refuses a second process, takes
 * over a stale one, and lets exactly one of many racing processes in; the journal, secrets and
 * the lab folder behave.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startScript, type LineChild } from '../helpers/child.js';
import { describeResult, runCli } from '../helpers/cli.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { writeFileAtomic } from '../../src/state/atomic.js';
import { LabBusyError, LabLock, processStartTime } from '../../src/state/lock.js';
import { generatePassword, SecretStore } from '../../src/state/secrets.js';
import { LabStore } from '../../src/state/store.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-state-test-'));
const children: LineChild[] = [];
after(async () => {
  await Promise.all(children.map((c) => c.stop()));
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function tempDir(name: string): string {
  const d = path.join(root, `${++n}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function start(script: string, args: string[], env: Record<string, string> = {}): LineChild {
  const c = startScript(script, args, env);
  children.push(c);
  return c;
}

/** pid of a process that has exited (and was reaped) */
async function deadPid(): Promise<number> {
  const c = spawn('true');
  await new Promise((r) => c.once('close', r));
  return c.pid!;
}

describe('writeFileAtomic', () => {
  test('writes the content with mode 0600 and leaves no temporary file', () => {
    const d = tempDir('atomic');
    const f = path.join(d, 'state.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    assert.equal(readFileSync(f, 'utf8'), 'two');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(d), ['state.json']);
  });

  /**
   * A child writes ~4 MB versions of a file in a loop; it is SIGKILLed at a random moment, again
   * and again, until at least 3 kills landed in the middle of a write (its temporary file is
   * left behind). After every kill the file must be one complete version, no older than the last
   * one the child reported finished.
   */
  async function killWhileWriting(mode: 'atomic' | 'plain', { wantMidWrite, maxKills }: { wantMidWrite: number; maxKills: number }) {
    const d = tempDir(`kill-${mode}`);
    const f = path.join(d, 'state.json');
    const outcomes: { complete: boolean; midWrite: boolean; version?: number; lastReported: number }[] = [];
    for (let i = 0; i < maxKills && outcomes.filter((o) => o.midWrite).length < wantMidWrite; i++) {
      const writer = start('atomic-writer.ts', [f, mode, '4000000']);
      await writer.waitForLines(2, 30_000); // at least one complete version exists before the kill
      await sleep(Math.floor(Math.random() * 40));
      await writer.kill();
      const lastReported = Number(writer.lines.at(-1));
      const temps = readdirSync(d).filter((e) => e.endsWith('.tmp'));
      let version: number | undefined;
      let complete = false;
      try {
        const doc = JSON.parse(readFileSync(f, 'utf8')) as { n: number; pad: string; end: number };
        complete = doc.n === doc.end && doc.pad.length === 4_000_000;
        version = doc.n;
      } catch {
        complete = false;
      }
      outcomes.push({ complete, midWrite: temps.length > 0 || !complete, version, lastReported });
      for (const t of temps) rmSync(path.join(d, t));
    }
    return outcomes;
  }

  test('a writer killed mid-write leaves one complete version of the file', { timeout: 120_000 }, async () => {
    const outcomes = await killWhileWriting('atomic', { wantMidWrite: 3, maxKills: 25 });
    const mid = outcomes.filter((o) => o.midWrite);
    assert.ok(mid.length >= 3, `only ${mid.length} of ${outcomes.length} kills landed mid-write`);
    for (const o of outcomes) {
      assert.equal(o.complete, true, `a kill left a torn file: ${JSON.stringify(o)}`);
      // the version on disk is the last reported one or the one being written when killed
      assert.ok(o.version! >= o.lastReported && o.version! <= o.lastReported + 1, JSON.stringify(o));
    }
  });

  test('control: the same kills do tear a plain writeFileSync (so the test above can fail)', { timeout: 120_000 }, async () => {
    const outcomes = await killWhileWriting('plain', { wantMidWrite: 1, maxKills: 25 });
    assert.ok(
      outcomes.some((o) => !o.complete),
      `no torn file in ${outcomes.length} kills of a non-atomic writer: ${JSON.stringify(outcomes)}`,
    );
  });
});

describe('the lab lock', () => {
  test('refuses a second process while the first holds it, then lets it in', { timeout: 60_000 }, async () => {
    const d = tempDir('lock');
    const file = path.join(d, 'lock');
    const holder = start('lock-worker.ts', [file, 'lab1', 'create'], { LOCK_WORKER_ACQUIRE: '1' });
    assert.equal(await holder.nextLine(20_000), 'got');
    // this process
    assert.throws(
      () => new LabLock(file, 'lab1').acquire('teardown'),
      (err: unknown) => {
        assert.ok(err instanceof LabBusyError);
        assert.equal(err.exitCode, 2);
        assert.equal(err.message, `lab lab1 is busy (pid ${holder.pid} running "create"); wait for it to finish or stop it`);
        return true;
      },
    );
    // and another process
    const second = start('lock-worker.ts', [file, 'lab1', 'deploy'], { LOCK_WORKER_ACQUIRE: '1' });
    assert.equal(await second.nextLine(20_000), `busy lab lab1 is busy (pid ${holder.pid} running "create"); wait for it to finish or stop it`);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, holder.pid, 'the refused attempts left the lock as it was');

    holder.send('release');
    assert.equal(await holder.nextLine(), 'released');
    assert.equal(existsSync(file), false);
    second.send('acquire');
    assert.equal(await second.nextLine(), 'got');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, second.pid);
  });

  test('a lock left by a killed process is taken over', { timeout: 60_000 }, async () => {
    const d = tempDir('stale');
    const file = path.join(d, 'lock');
    const holder = start('lock-worker.ts', [file, 'lab1', 'create'], { LOCK_WORKER_ACQUIRE: '1' });
    assert.equal(await holder.nextLine(20_000), 'got');
    await holder.kill();
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, holder.pid, 'the killed holder left its lock');
    const lock = new LabLock(file, 'lab1');
    lock.acquire('teardown');
    const owner = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.command, 'teardown');
    assert.deepEqual(readdirSync(d), ['lock'], 'no file of the takeover is left');
    lock.release();
    assert.equal(existsSync(file), false);
  });

  test('a lock whose pid now belongs to another process (pid reuse) is taken over', async () => {
    const d = tempDir('reuse');
    const file = path.join(d, 'lock');
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const started = await waitFor('sleep to start', () => processStartTime(other.pid!));
      writeFileSync(file, JSON.stringify({ pid: other.pid, started: String(Number(started) - 1), command: 'create' }));
      const lock = new LabLock(file, 'lab1');
      lock.acquire('status');
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
      lock.release();
      // the same pid with its real start time is a live owner
      writeFileSync(file, JSON.stringify({ pid: other.pid, started, command: 'create' }));
      assert.throws(() => new LabLock(file, 'lab1').acquire('status'), LabBusyError);
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('an empty or garbled lock file is taken over', () => {
    const d = tempDir('garbled');
    const file = path.join(d, 'lock');
    for (const content of ['', '{"pid":', 'not json']) {
      writeFileSync(file, content);
      const lock = new LabLock(file, 'lab1');
      lock.acquire('x');
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid, `taken over from ${JSON.stringify(content)}`);
      lock.release();
    }
  });

  test('release() never removes a lock that is not ours', async () => {
    const d = tempDir('notours');
    const file = path.join(d, 'lock');
    const lock = new LabLock(file, 'lab1');
    lock.acquire('x');
    const pid = await deadPid();
    writeFileSync(file, JSON.stringify({ pid }));
    lock.release();
    assert.equal(existsSync(file), true);
  });

  for (const kind of ['no lock', 'a stale lock'] as const) {
    test(`many processes racing for the lock (${kind}): exactly one gets it, every round`, { timeout: 120_000 }, async () => {
      const d = tempDir(`race-${kind.replace(/ /g, '-')}`);
      const file = path.join(d, 'lock');
      const workers = Array.from({ length: 6 }, () => start('lock-worker.ts', [file, 'lab1', 'race']));
      const dead = await deadPid();
      for (let round = 0; round < 25; round++) {
        if (kind === 'a stale lock') writeFileSync(file, JSON.stringify({ pid: dead, command: 'killed' }));
        for (const w of workers) w.send('acquire');
        const answers = await Promise.all(workers.map((w) => w.nextLine(30_000)));
        const winners = workers.filter((_, i) => answers[i] === 'got');
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} processes hold the lock: ${JSON.stringify(answers)}`);
        for (const [i, a] of answers.entries()) if (a !== 'got') assert.match(a, /^busy lab lab1 is busy \(pid \d+/, `worker ${i}`);
        assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, winners[0]!.pid);
        for (const w of workers) w.send('release');
        await Promise.all(workers.map((w) => w.nextLine()));
        assert.equal(existsSync(file), false, `round ${round}: the winner's release removed the lock`);
        assert.deepEqual(readdirSync(d), [], `round ${round}: nothing else is left`);
      }
    });
  }

  test('labctl on a busy lab stops at once with "lab NAME is busy (pid N)" and exit 2; on a stale lock it goes on', { timeout: 60_000 }, async () => {
    const home = tempDir('cli-home');
    const specFile = path.join(tempDir('cli-spec'), 'lab.yaml');
    writeFileSync(
      specFile,
      'name: busy-lab\nnetwork: { subnet: 198.18.21.0/24 }\nredis: { version: 7.0.15 }\nmachines:\n' +
        '  redis: { role: redis, os: ubuntu, ip: 198.18.21.10 }\n  web1: { role: web, os: windows, ip: 198.18.21.11 }\n',
    );
    const lockFile = path.join(home, 'labs/busy-lab/lock');
    mkdirSync(path.dirname(lockFile), { recursive: true });
    const holder = start('lock-worker.ts', [lockFile, 'busy-lab', 'create'], { LOCK_WORKER_ACQUIRE: '1' });
    assert.equal(await holder.nextLine(20_000), 'got');
    const busy = await runCli(['--spec', specFile, '--home', home, 'teardown', '--yes']);
    assert.equal(busy.code, 2, describeResult(busy));
    assert.equal(busy.stderr, `labctl: lab busy-lab is busy (pid ${holder.pid} running "create"); wait for it to finish or stop it\n`);
    assert.ok(busy.ms < 2000, `took ${busy.ms} ms`);

    await holder.kill();
    const stale = await runCli(['--spec', specFile, '--home', home, 'teardown', '--yes']);
    assert.equal(stale.code, 0, describeResult(stale));
    assert.match(stale.stdout, /lab busy-lab: nothing to remove/);
    assert.equal(existsSync(path.join(home, 'labs/busy-lab')), false, 'the stale lock and the empty lab folder are gone');
  });
});

describe('the lab store', () => {
  function spec() {
    return { file: '/x/lab.yaml', hash: 'abc' };
  }

  test('the journal is on disk after every change and reads back in another store', () => {
    const home = tempDir('store');
    const a = new LabStore(home, 'lab1');
    a.open('create');
    a.init('netns', spec());
    a.addResource({ kind: 'netns', id: 'ns1', machine: 'web1' });
    a.addResource({ kind: 'netns', id: 'ns1', machine: 'web1' }); // recorded once
    a.addResource({ kind: 'veth', id: 'v1' });
    a.markStepDone('step1', { pid: 1 });
    a.setFact('hostKey:web1', 'ssh-ed25519 AAAA');
    const b = new LabStore(home, 'lab1');
    const state = b.peek()!;
    assert.deepEqual(state.resources.map((r) => `${r.kind}:${r.id}`), ['netns:ns1', 'veth:v1']);
    assert.deepEqual(state.steps.step1!.info, { pid: 1 });
    assert.equal(state.facts['hostKey:web1'], 'ssh-ed25519 AAAA');
    assert.equal(statSync(a.paths.state).mode & 0o777, 0o600);
    a.removeResource('netns', 'ns1');
    assert.deepEqual(b.peek()!.resources.map((r) => r.id), ['v1']);
    a.close();
    assert.equal(existsSync(a.paths.lock), false);
  });

  test('init refuses a lab made by another provider', () => {
    const home = tempDir('provider');
    const a = new LabStore(home, 'lab1');
    a.open('create');
    a.init('netns', spec());
    a.close();
    const b = new LabStore(home, 'lab1');
    b.open('create');
    try {
      assert.throws(() => b.init('hyperv', spec()), /created with the netns provider/);
    } finally {
      b.close();
    }
  });

  test('an unreadable journal is reported, not overwritten', () => {
    const home = tempDir('garbled-state');
    const s = new LabStore(home, 'lab1');
    mkdirSync(s.paths.dir, { recursive: true });
    writeFileSync(s.paths.state, '{"version":1,');
    assert.throws(() => s.open('create'), /state\.json is unreadable .*move it aside/);
    assert.equal(readFileSync(s.paths.state, 'utf8'), '{"version":1,');
  });

  test('destroy() removes the journal, secrets, machine folders and temp files of interrupted writes', async () => {
    const home = tempDir('destroy');
    const s = new LabStore(home, 'lab1');
    mkdirSync(s.paths.dir, { recursive: true }); // made before: close() leaves it, so it can be looked at
    s.open('teardown');
    s.init('netns', spec());
    s.secrets.write('pw', 'secret');
    mkdirSync(s.machineDir('web1'), { recursive: true });
    const dead = await deadPid();
    for (const f of [`.state.json.${dead}.tmp`, `lock.${dead}.new`, `lock.takeover.${dead}.new`]) writeFileSync(path.join(s.paths.dir, f), '{"half');
    // a write under way in a live process is not touched
    writeFileSync(path.join(s.paths.dir, `lock.${process.pid}.new`), '{}');
    s.destroy();
    s.close();
    assert.deepEqual(readdirSync(s.paths.dir), [`lock.${process.pid}.new`], 'only the live write is left');
  });

  test('a command that wrote nothing leaves no folder behind; one that wrote keeps its folder', () => {
    const fresh = path.join(tempDir('fresh'), 'home');
    const s = new LabStore(fresh, 'lab1');
    s.open('create');
    assert.equal(existsSync(s.paths.lock), true);
    s.close();
    assert.equal(existsSync(fresh), false, 'home made by open() and still empty is removed');

    const t = new LabStore(fresh, 'lab1');
    t.open('create');
    t.init('netns', spec());
    t.close();
    assert.equal(existsSync(t.paths.state), true, 'a lab with a journal keeps its folder');

    const other = new LabStore(fresh, 'lab2');
    other.open('create');
    other.close();
    assert.equal(existsSync(other.paths.dir), false);
    assert.equal(existsSync(t.paths.dir), true, 'the other lab is untouched');
  });
});

describe('secrets', () => {
  test('are files of mode 0600 in a folder of mode 0700, never in the journal', () => {
    const home = tempDir('secrets');
    const s = new LabStore(home, 'lab1');
    s.open('deploy');
    s.init('netns', { file: 'f', hash: 'h' });
    const pw = s.secrets.ensure('redis-password', () => generatePassword());
    assert.equal(s.secrets.ensure('redis-password', () => 'other'), pw, 'ensure() keeps the first value');
    assert.equal(statSync(s.secrets.path('redis-password')).mode & 0o777, 0o600);
    assert.equal(statSync(s.paths.secrets).mode & 0o777, 0o700);
    s.markStepDone('x');
    assert.equal(readFileSync(s.paths.state, 'utf8').includes(pw), false);
    s.close();
  });

  test('names cannot leave the secrets folder', () => {
    const store = new SecretStore(tempDir('names'));
    for (const bad of ['../x', 'a/b', '.hidden', '']) assert.throws(() => store.path(bad), /bad secret name/);
  });

  test('generated passwords: 40 characters of [A-Za-z0-9], different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      assert.match(p, /^[A-Za-z0-9]{40}$/);
      seen.add(p);
    }
    assert.equal(seen.size, 200);
    assert.equal(generatePassword(12).length, 12);
  });
});
