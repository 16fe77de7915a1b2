/**
 * Issue 3's bad input on a real netns lab: a missing tarball (a bad command line: exit 2), a
 * sha256 mismatch, a corrupt tarball, a failing build and a server that will not start each
 * give a clear error, exit 1, leave nothing half-installed, and leave the lab resumable. Fake source trees fail in
 * the chosen place without compiling anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { describeResult, hasStackTrace } from '../helpers/cli.js';
import { corruptTarball, fakeRedisTarball } from '../helpers/fake-redis-source.js';

let lab: LabFixture;
const machine = () => path.join(lab.dir, 'machines/redis');
const prefix = () => path.join(machine(), 'opt/redis/7.0.15');
const work = () => path.join(machine(), 'var/lib/labctl/redis-build');

function assertNothingInstalled(): void {
  assert.ok(!existsSync(prefix()), `${prefix()} exists: something was installed`);
  assert.ok(!existsSync(`${prefix()}.new`), 'a half install was left');
  const left = existsSync(work()) ? readdirSync(work()).filter((f) => f !== 'make.status') : [];
  assert.deepEqual(left, [], `the build folder still holds ${left.join(', ')}`);
}

function setSource(source: unknown): void {
  const spec = parse(readFileSync(lab.specFile, 'utf8'));
  spec.redis.source = source;
  writeFileSync(lab.specFile, stringify(spec));
}

async function failingDeploy(args: string[], expected: RegExp) {
  const r = await lab.cli(['deploy', ...args]);
  assert.equal(r.code, 1, describeResult(r));
  assert.match(r.stderr, expected);
  assert.ok(!hasStackTrace(r.stderr), `stack trace in:\n${r.stderr}`);
  return r;
}

describe('Redis deploy failures on netns', { timeout: 240_000 }, () => {
  before(async () => {
    lab = await createLabFixture({ subnet: '198.18.101.0/24', prefix: 'rf' });
    await lab.create();
  });
  after(async () => {
    const forced = await lab.cleanup();
    assert.deepEqual(forced, []);
  });

  it('a missing tarball: clear error naming it, exit 2 (a bad command line: refused before anything runs)', async () => {
    const r = await lab.cli(['deploy', '--redis-tarball', path.join(lab.root, 'no-such.tar.gz')]);
    assert.equal(r.code, 2, describeResult(r));
    assert.match(r.stderr, /'--redis-tarball <file>' argument '\S*no-such\.tar\.gz' is invalid\. no such file/);
    assert.ok(!hasStackTrace(r.stderr), `stack trace in:\n${r.stderr}`);
    assertNothingInstalled();
  });

  it('a sha256 mismatch: refused before anything is uploaded', async () => {
    const tarball = fakeRedisTarball(lab.root, 'build-fails');
    setSource({ tarball, sha256: '0'.repeat(64) });
    await failingDeploy([], /sha256 mismatch/);
    assertNothingInstalled();
    assert.ok(!existsSync(path.join(work(), 'source.tar.gz')), 'the mismatching tarball was uploaded');
    setSource('auto');
  });

  it('a corrupt tarball: clear error, nothing half-installed', async () => {
    await failingDeploy(['--redis-tarball', corruptTarball(lab.root)], /not a usable tarball/);
    assertNothingInstalled();
  });

  it('a failing build: the last 30 lines of the build log and the path of the whole log', async () => {
    const r = await failingDeploy(['--redis-tarball', fakeRedisTarball(lab.root, 'build-fails')], /building Redis on redis failed; last 30 lines of the build log/);
    assert.match(r.stderr, /labctl-test-build-error/);
    assert.match(r.stderr, /whole log: .*var\/log\/labctl\/redis-build\.log/);
    const tailLines = r.stderr.split('\n').filter((l) => /^ {4}\s*CC fake\d+\.o$/.test(l));
    assert.ok(tailLines.length >= 25 && tailLines.length <= 30, `${tailLines.length} build log lines shown`);
    assertNothingInstalled();
  });

  it('a server that does not start: the tail of its log', async () => {
    const r = await failingDeploy(['--redis-tarball', fakeRedisTarball(lab.root, 'server-fails')], /redis-server did not start on redis/);
    assert.match(r.stderr, /FATAL labctl-test-server-error/);
  });

  it('the lab stays resumable: the failed step is not journaled as done, and deploy runs again', async () => {
    const state = lab.readState();
    assert.ok(state.steps['redis:redis:build'], 'the fake build that succeeded is journaled');
    assert.equal(state.steps['redis:redis:service'], undefined, 'the failed service step is not journaled');
    await failingDeploy(['--redis-tarball', fakeRedisTarball(lab.root, 'server-fails')], /redis-server did not start/);
    const status = await lab.cli(['status', '--json']);
    assert.equal(status.code, 0);
    assert.ok(JSON.parse(status.stdout).machines.every((m: { state: string }) => m.state === 'running'));
  });
});
