/**
 * scripts/bench-scale.mjs (issue 13, part 4): only what is cheap — its arguments. Bad ones exit 2
 * with one line on stderr before anything is built, checked or created; --help prints the usage
 * and exits 0. The benchmark itself (root, minutes) is not part of the test suite.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';

const script = path.join(REPO_ROOT, 'scripts/bench-scale.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 20_000 });

test('bench-scale --help prints the usage and exits 0', () => {
  const r = run('--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: .*bench-scale\.mjs .*--nodes/);
  assert.match(r.stdout, /--quick/);
  assert.match(r.stdout, /--cluster-nodes/);
  assert.match(r.stdout, /--json/);
  assert.equal(r.stderr, '');
});

for (const args of [['--nodes', '3x'], ['--nodes', '0'], ['--nodes', '2,17'], ['--nodes', '2,2'], ['--nodes', ''], ['--nodes'], ['--nodes', '2,,4'], ['--cluster-nodes', '0'], ['--cluster-nodes', '2,2'], ['--cluster-nodes'], ['--nodes', '1,2,3,4,5', '--cluster-nodes', '1,2,3,4,5'], ['--frobnicate'], ['extra']]) {
  test(`bench-scale ${args.join(' ') || '(empty)'} exits 2 with one line`, () => {
    const r = run(...args);
    assert.equal(r.status, 2, `${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^bench: /);
  });
}
