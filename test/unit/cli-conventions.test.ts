/**
 * CLI conventions, as a user meets them: --version; output into a pipe whose reader leaves
 * early (`labctl plan | head -1`) ends quietly instead of with a stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { assertBuilt, LABCTL_BIN, REPO_ROOT } from '../helpers/cli.js';
import { describeResult, runCli } from '../helpers/cli.js';

describe('CLI conventions', () => {
  test('--version prints the version from package.json and exits 0', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version);
  });

  for (const args of [['plan'], ['plan', '--provider', 'hyperv', '--json']]) {
    test(`labctl ${args.join(' ')} | head -1: exits quietly when the reader goes away`, async () => {
      assertBuilt();
      const child = spawn(process.execPath, [LABCTL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LABCTL_HOME: '/nonexistent-labctl-home' } });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      // close our end before labctl writes, as head does once it has its line: labctl's
      // writes then meet a pipe with no reader (EPIPE)
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stderr, /EPIPE|at .*\.js:\d+/, 'no stack trace');
    });
  }
});

describe('--json errors carry a stable code', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'labctl-codes-'));
  after(() => rmSync(home, { recursive: true, force: true }));
  const badSpec = path.join(home, 'bad.yaml');
  writeFileSync(badSpec, 'name: Bad_Name\nnetwork: { subnet: 10.0.0.0/33 }\n');

  for (const [args, code, exit] of [
    [['--bogus'], 'USAGE', 2],
    [['validate', '--spec', badSpec], 'SPEC_INVALID', 2],
    [['validate', '--spec', path.join(home, 'missing.yaml')], 'SPEC_INVALID', 2],
    [['ssh', 'nosuch', 'true'], 'MACHINE_UNKNOWN', 2],
    [['ssh', 'web1', 'true'], 'LAB_NOT_CREATED', 2],
    [['verify'], 'LAB_NOT_CREATED', 2],
    [['redis-cli', 'PING'], 'LAB_NOT_CREATED', 2],
  ] as const) {
    test(`labctl ${args.join(' ')} --json → ${code}`, async () => {
      const r = await runCli(['--home', home, '--json', ...args]);
      assert.equal(r.code, exit, describeResult(r));
      const body = JSON.parse(r.stdout);
      assert.equal(body.ok, false);
      assert.equal(body.code, code, r.stdout);
      // validate reports its problems as a list; every other error has a message and the exit code
      if (args[0] === 'validate') assert.ok(body.problems.length > 0);
      else {
        assert.equal(body.exitCode, exit);
        assert.equal(typeof body.error, 'string');
      }
    });
  }
});
