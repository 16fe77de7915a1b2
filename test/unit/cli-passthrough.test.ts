/**
 * Commands that pass their arguments on (ssh, redis-cli): everything after the machine is
 * the remote command's, options included; labctl's own options there are refused (exit 2)
 * rather than passed on or silently applied to the default lab; after -- anything goes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { refuseLabctlOptions } from '../../src/cli/context.js';
import { describeResult, hasStackTrace, runCli } from '../helpers/cli.js';

const home = mkdtempSync(path.join(os.tmpdir(), 'labctl-passthrough-'));
after(() => rmSync(home, { recursive: true, force: true }));

describe('arguments passed on', () => {
  test('options after the machine belong to the remote command (no "unknown option")', async () => {
    const r = await runCli(['--home', home, 'ssh', 'web1', 'tail', '-n', '5', '/var/log/x']);
    assert.equal(r.code, 2, describeResult(r));
    assert.match(r.stderr, /lab signalr-redis is not created/, 'got as far as the lab: -n was not taken as an option of labctl');
    assert.doesNotMatch(r.stderr, /unknown option/);
  });

  for (const [cmd, args] of [
    ['redis-cli', ['INFO', '--spec', 'other.yaml']],
    ['redis-cli', ['INFO', '--home=/tmp/elsewhere']],
    ['ssh', ['web1', 'ls', '--provider', 'hyperv']],
  ] as const) {
    test(`labctl ${cmd} ${args.join(' ')}: refused with exit 2, naming the option and the fix`, async () => {
      const r = await runCli(['--home', home, cmd, ...args]);
      assert.equal(r.code, 2, describeResult(r));
      const name = args.find((a) => a.startsWith('--'))!.split('=')[0]!;
      assert.match(r.stderr, new RegExp(`${name} after the arguments of labctl ${cmd}`));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!hasStackTrace(r.stderr));
    });
  }

  test('after -- everything is passed on, and the -- itself is dropped', () => {
    assert.deepEqual(refuseLabctlOptions('ssh', ['ls', '--', '--spec', 'x']), ['ls', '--spec', 'x']);
    assert.deepEqual(refuseLabctlOptions('ssh', ['--', 'ls', '-l']), ['ls', '-l']);
    assert.deepEqual(refuseLabctlOptions('redis-cli', ['INFO', 'server']), ['INFO', 'server']);
  });
});
