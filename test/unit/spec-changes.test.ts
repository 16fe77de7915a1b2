/**
 * The spec recorded at create and the file as it is now: what changed (machines, addresses,
 * versions) in one or two lines, what deploy and up do about it, and `--lab NAME` resolved
 * through the recorded copy (no root: the lab here is a state file and its copy, nothing runs).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { describeChanges, specChanges } from '../../src/spec/changes.js';
import { parseSpec } from '../../src/spec/load.js';
import { describeResult, runCli } from '../helpers/cli.js';

const BASE = `name: chg-lab
provider: netns
network: { subnet: 198.18.21.0/24 }
redis: { version: 7.0.15 }
app: { port: 80 }
machines:
  redis: { role: redis, os: ubuntu, ip: 198.18.21.10 }
  web1: { role: web, os: windows, ip: 198.18.21.11 }
  web2: { role: web, os: windows, ip: 198.18.21.12 }
`;
const CHANGED = BASE.replace('version: 7.0.15', 'version: 7.2.4')
  .replace('ip: 198.18.21.12', 'ip: 198.18.21.22')
  .replace('  web1: { role: web, os: windows, ip: 198.18.21.11 }\n', '  web1: { role: web, os: windows, ip: 198.18.21.11, cpus: 4 }\n')
  .concat('  web3: { role: web, os: ubuntu, ip: 198.18.21.13 }\n');

describe('spec changes since create', () => {
  const before = parseSpec(BASE, '/labs/chg.yaml');
  const now = parseSpec(CHANGED, '/labs/chg.yaml');

  test('each change is named, with what applies it', () => {
    const changes = specChanges(before, now);
    assert.deepEqual(
      changes.map((c) => [c.text, c.appliedBy]),
      [
        ['web1 cpus 2 → 4', 'recreate'],
        ['web2 198.18.21.12 → 198.18.21.22', 'recreate'],
        ['web3 added (web, 198.18.21.13)', 'create'],
        ['redis.version 7.0.15 → 7.2.4', 'deploy'],
      ],
    );
    assert.deepEqual(specChanges(before, parseSpec(BASE, '/labs/chg.yaml')), []);
    const removed = specChanges(now, before).find((c) => c.kind === 'machine-removed');
    assert.equal(removed?.text, 'web3 removed');
  });

  test('in two lines at most, saying what deploy and up will do', () => {
    const changes = specChanges(before, now);
    const deploy = describeChanges('/labs/chg.yaml', changes, 'deploy');
    assert.equal(deploy.length, 2);
    assert.match(deploy[0]!, /^\/labs\/chg\.yaml changed since the lab was created: web1 cpus 2 → 4; web2 198\.18\.21\.12 → 198\.18\.21\.22; web3 added/);
    assert.match(deploy[1]!, /deploy rebuilds or reconfigures Redis/);
    assert.match(deploy[1]!, /web3: not made yet, labctl up \(or create\) makes it/);
    assert.match(deploy[1]!, /labctl recreate web1 \/ web2 applies/);
    const up = describeChanges('/labs/chg.yaml', changes, 'up');
    assert.match(up[1]!, /up makes web3; then deploys Redis and the app with the new settings/);
    const status = describeChanges('/labs/chg.yaml', changes, 'status');
    assert.match(status[1]!, /labctl up applies web3, redis\.version/);
    assert.deepEqual(describeChanges('/labs/chg.yaml', [], 'deploy'), []);
  });
});

describe('--lab NAME', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-lab-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const home = path.join(root, 'home');
  const specFile = path.join(root, 'gone.yaml');
  const labDir = path.join(home, 'labs', 'chg-lab');
  mkdirSync(labDir, { recursive: true });
  // a lab as create leaves it: its state, and the copy of the spec it was made from
  writeFileSync(
    path.join(labDir, 'state.json'),
    JSON.stringify({ version: 1, lab: 'chg-lab', provider: 'netns', spec: { file: specFile, hash: 'x' }, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', steps: {}, resources: [], facts: {} }),
  );
  writeFileSync(path.join(labDir, 'spec.yaml'), BASE);

  test('status works from the recorded spec when the file is gone', async () => {
    const r = await runCli(['--home', home, '--lab', 'chg-lab', 'status', '--json']);
    assert.equal(r.code, 0, describeResult(r));
    const out = JSON.parse(r.stdout);
    assert.equal(out.lab, 'chg-lab');
    assert.deepEqual(out.machines.map((m: { name: string }) => m.name), ['redis', 'web1', 'web2']);
  });

  test('with the file back and changed, commands say what changed and which spec --lab uses', async () => {
    writeFileSync(specFile, CHANGED);
    try {
      const r = await runCli(['--home', home, '--lab', 'chg-lab', 'status']);
      assert.equal(r.code, 0, describeResult(r));
      assert.match(r.stderr, /gone\.yaml changed since the lab was created: .*redis\.version 7\.0\.15 → 7\.2\.4/);
      assert.match(r.stderr, /--lab chg-lab uses the spec recorded at create/);
      const viaFile = await runCli(['--home', home, '--spec', specFile, 'status']);
      assert.match(viaFile.stderr, /labctl up applies web3/);
    } finally {
      rmSync(specFile, { force: true });
    }
  });

  test('--lab and --spec that name different labs are refused (exit 2)', async () => {
    const other = path.join(root, 'other.yaml');
    writeFileSync(other, BASE.replace('name: chg-lab', 'name: other-lab'));
    const r = await runCli(['--home', home, '--lab', 'chg-lab', '--spec', other, 'status', '--json']);
    assert.equal(r.code, 2, describeResult(r));
    assert.equal(JSON.parse(r.stdout).code, 'USAGE');
    assert.match(JSON.parse(r.stdout).error, /--lab chg-lab and --spec .*other\.yaml disagree: that file describes lab other-lab/);
  });

  test('a lab that is not there, or a name that is not a lab name', async () => {
    const missing = await runCli(['--home', home, '--lab', 'nosuch', 'status', '--json']);
    assert.equal(missing.code, 2);
    assert.equal(JSON.parse(missing.stdout).code, 'LAB_NOT_CREATED');
    assert.match(JSON.parse(missing.stdout).error, /labctl ls lists the labs there/);
    const bad = await runCli(['--home', home, '--lab', '../etc', 'status']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a lab name/);
  });
});
