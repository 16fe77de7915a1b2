/**
 * CLI conventions, as a user meets them: --version; output into a pipe whose reader leaves
 * early (`labctl plan | head -1`) ends quietly instead of with a stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
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
