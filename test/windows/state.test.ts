/**
 * State under Node.js for Windows: the atomic write (new file, overwrite, the folder fsync that
 * Windows refuses) and the lab lock without /proc (acquire, refuse while another live process
 * holds it, take over a stale one). Also runs on Linux, where the folder fsync is not refused.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { folderSyncRefused, writeFileAtomic } from '../../src/state/atomic.js';
import { LabBusyError, LabLock, processStartTime } from '../../src/state/lock.js';
import { SecretStore } from '../../src/state/secrets.js';
import { LabStore } from '../../src/state/store.js';
import { runNode, scriptArgs, startNode, tempDir, waitFor } from './support.js';

const root = tempDir('state');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function dir(name: string): string {
  const d = path.join(root, `${++n}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('writeFileAtomic', () => {
  test('writes a new file, overwrites it, and overwrites a file it did not write; no temporary file is left', () => {
    const d = dir('atomic');
    const f = path.join(d, 'state.json');
    writeFileAtomic(f, 'one');
    assert.equal(readFileSync(f, 'utf8'), 'one');
    writeFileAtomic(f, 'two');
    assert.equal(readFileSync(f, 'utf8'), 'two');
    const other = path.join(d, 'other.json');
    writeFileSync(other, 'written by someone else, longer than what replaces it');
    writeFileAtomic(other, Buffer.from('three'));
    assert.equal(readFileSync(other, 'utf8'), 'three');
    assert.deepEqual(readdirSync(d).sort(), ['other.json', 'state.json']);
  });

  test('the folder fsync: Windows refuses it, and the write succeeds all the same', () => {
    const d = dir('fsync');
    // the premise, asked of this OS: on Windows flushing a folder is refused (EPERM)
    const fd = openSync(d, 'r');
    let refused: NodeJS.ErrnoException | undefined;
    try {
      fsyncSync(fd);
    } catch (err) {
      refused = err as NodeJS.ErrnoException;
    } finally {
      closeSync(fd);
    }
    if (process.platform === 'win32') {
      assert.ok(refused, 'fsync of a folder was expected to be refused on Windows');
      assert.equal(folderSyncRefused(refused), true, `refused with ${refused.code}, which writeFileAtomic does not expect`);
    } else {
      assert.equal(refused, undefined, `fsync of a folder failed on ${process.platform}: ${refused?.message}`);
    }
    const f = path.join(d, 'state.json');
    writeFileAtomic(f, '{"version":1}\n');
    assert.equal(readFileSync(f, 'utf8'), '{"version":1}\n');
    assert.deepEqual(readdirSync(d), ['state.json']);
  });

  test('only the refusals Windows gives for a folder fsync are forgiven, and only on Windows', () => {
    for (const code of ['EPERM', 'EISDIR', 'EINVAL', 'EBADF']) {
      assert.equal(folderSyncRefused(errno(code), 'win32'), true, code);
      assert.equal(folderSyncRefused(errno(code), 'linux'), false, `${code} on linux is a real error`);
    }
    for (const code of ['EIO', 'ENOSPC', 'EACCES', 'EROFS', 'ENOENT']) assert.equal(folderSyncRefused(errno(code), 'win32'), false, code);
    assert.equal(folderSyncRefused(new Error('EPERM'), 'win32'), false, 'an error without a code');
    assert.equal(folderSyncRefused(undefined, 'win32'), false);
  });

  test('a real write error is thrown, and leaves no temporary file', () => {
    const d = dir('errors');
    assert.throws(() => writeFileAtomic(path.join(d, 'missing', 'state.json'), 'x'), { code: 'ENOENT' });
    // the target is a folder: the rename fails (EISDIR on Linux, EPERM on Windows)
    const target = path.join(d, 'state.json');
    mkdirSync(target);
    assert.throws(() => writeFileAtomic(target, 'x'), (err: NodeJS.ErrnoException) => ['EISDIR', 'EPERM', 'EEXIST', 'EACCES'].includes(err.code ?? ''));
    assert.ok(statSync(target).isDirectory());
    assert.deepEqual(readdirSync(d), ['state.json'], 'the temporary file was removed');
  });
});

describe('the lab journal and secrets', () => {
  test('a lab store opens, journals and closes (every change an atomic write)', () => {
    const home = path.join(dir('store'), 'home');
    const s = new LabStore(home, 'lab1');
    s.open('create');
    s.init('hyperv', { file: 'C:\\labctl\\lab.yaml', hash: 'abc' });
    s.addResource({ kind: 'hyperv-vm', id: 'labctl-lab1-web1', machine: 'web1' });
    s.markStepDone('hyperv:switch');
    s.close();
    const again = new LabStore(home, 'lab1').peek();
    assert.deepEqual(again?.resources.map((r) => r.id), ['labctl-lab1-web1']);
    assert.equal(again?.spec.file, 'C:\\labctl\\lab.yaml');
    assert.ok(again?.steps['hyperv:switch']);
    assert.deepEqual(readdirSync(path.join(home, 'labs', 'lab1')), ['state.json'], 'no lock or temporary file left');
  });

  test('a secret is written, rewritten and read back', () => {
    const secrets = new SecretStore(path.join(dir('secrets'), 'secrets'));
    secrets.write('redis-password', 'first');
    secrets.write('redis-password', 'second');
    assert.equal(secrets.read('redis-password'), 'second');
    const mode = statSync(secrets.path('redis-password')).mode & 0o777;
    // Windows keeps no Unix mode (a writable file reads as 0666): what protects a secret there is
    // the folder's NTFS ACL, see docs/windows-node.md. Elsewhere the mode is the protection.
    if (process.platform === 'win32') assert.ok(mode & 0o200, 'the secret is not read-only, so it can be rewritten');
    else assert.equal(mode, 0o600);
  });
});

describe('the lab lock, without /proc', () => {
  interface Holder {
    child: ChildProcess;
    report: string;
    pid: number;
  }

  /** A second process (this node) that takes the lock and holds it. */
  async function holder(file: string, command: string): Promise<{ holder: Holder; answer: string }> {
    const report = path.join(path.dirname(file), `holder-${command}-${++n}`);
    const outDir = tempDir('holder');
    const child = startNode([...scriptArgs('lock-holder'), file, 'lab1', command, report], outDir);
    children.push(child);
    const answer = await waitFor(`${command} holder to answer`, () => {
      if (existsSync(report)) return readFileSync(report, 'utf8') || undefined;
      if (child.exitCode !== null) throw new Error(`holder exited ${child.exitCode}: ${readFileSync(path.join(outDir, 'stderr'), 'utf8')}`);
      return undefined;
    });
    return { holder: { child, report, pid: child.pid! }, answer };
  }

  async function kill(h: Holder): Promise<void> {
    if (h.child.exitCode !== null || h.child.signalCode !== null) return;
    const gone = new Promise((r) => h.child.once('exit', r));
    h.child.kill('SIGKILL');
    await gone;
  }

  test('no process start time is read on Windows (there is no /proc)', () => {
    if (process.platform === 'win32') {
      // pid 1 is a live process on Linux: under Wine, \proc\1\stat on drive Z: would be its /proc
      for (const pid of [process.pid, 1]) assert.equal(processStartTime(pid), undefined, `pid ${pid}`);
    } else {
      assert.match(processStartTime(process.pid) ?? '', /^\d+$/);
    }
  });

  test('acquire writes the owner, release removes it', () => {
    const d = dir('lock');
    const file = path.join(d, 'lock');
    const lock = new LabLock(file, 'lab1');
    lock.acquire('create');
    const owner = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; started?: string; command: string };
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.command, 'create');
    if (process.platform === 'win32') assert.equal(owner.started, undefined, 'no start time on Windows');
    lock.release();
    assert.deepEqual(readdirSync(d), []);
  });

  test('refuses while another live process holds it, then lets the next one in', { timeout: 60_000 }, async () => {
    const d = dir('busy');
    const file = path.join(d, 'lock');
    const { holder: h, answer } = await holder(file, 'create');
    assert.equal(answer, 'got');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, h.pid);
    const busy = `lab lab1 is busy (pid ${h.pid} running "create"); wait for it to finish or stop it`;
    assert.throws(
      () => new LabLock(file, 'lab1').acquire('teardown'),
      (err: unknown) => err instanceof LabBusyError && err.exitCode === 2 && err.message === busy,
    );
    const second = await holder(file, 'deploy');
    assert.equal(second.answer, `busy ${busy}`);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, h.pid, 'the refused attempts left the lock as it was');

    writeFileSync(`${h.report}.release`, '');
    await waitFor('the holder to release', () => (existsSync(`${h.report}.released`) ? true : undefined));
    assert.equal(existsSync(file), false);
    const lock = new LabLock(file, 'lab1');
    lock.acquire('teardown');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
    lock.release();
  });

  test('a lock left by a killed process is taken over', { timeout: 60_000 }, async () => {
    const d = dir('stale');
    const file = path.join(d, 'lock');
    const { holder: h, answer } = await holder(file, 'create');
    assert.equal(answer, 'got');
    await kill(h);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, h.pid, 'the killed holder left its lock');
    rmSync(h.report);
    const lock = new LabLock(file, 'lab1');
    lock.acquire('teardown');
    const owner = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.command, 'teardown');
    assert.deepEqual(readdirSync(d), ['lock'], 'no file of the takeover is left');
    lock.release();
  });

  test('a lock naming a process that has exited is taken over', { timeout: 60_000 }, async () => {
    const d = dir('dead');
    const file = path.join(d, 'lock');
    const exited = await runNode(['-e', 'require("fs").writeFileSync(process.argv[1], String(process.pid))', path.join(d, 'pid')]);
    assert.equal(exited.code, 0, exited.stderr);
    const pid = Number(readFileSync(path.join(d, 'pid'), 'utf8'));
    rmSync(path.join(d, 'pid'));
    writeFileSync(file, JSON.stringify({ pid, command: 'create' }));
    const lock = new LabLock(file, 'lab1');
    lock.acquire('status');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid);
    lock.release();
    assert.deepEqual(readdirSync(d), []);
  });
});
