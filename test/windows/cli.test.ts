/**
 * labctl as a user runs it (node bin/labctl, which loads dist/), under Node for Windows: --help,
 * a bad option, a missing spec, `plan --provider hyperv --json` with stdout to a file, and the
 * entry point's message when dist/ is missing.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { describeRun, hasStackTrace, labctl, REPO_ROOT, runNode, tempDir } from './support.js';

const dir = tempDir('cli');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the labctl command line', () => {
  test('--help: usage on stdout, exit 0', async () => {
    const r = await labctl(['--help']);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /^Usage: labctl \[options\] \[command\]\n/);
    assert.match(r.stdout, /\n {2}plan /);
    assert.equal(r.stderr, '');
  });

  test('a bad option: exit 2, one error line and the usage hint, no stack trace', async () => {
    const r = await labctl(['validate', '--bogus']);
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, "error: unknown option '--bogus'\n(run labctl --help for usage)\n");
    assert.equal(hasStackTrace(r.stderr), false);
  });

  test('validate of a missing spec file: exit 2, naming the file', async () => {
    const missing = path.join(dir, 'no-such-lab.yaml');
    const r = await labctl(['validate', '--spec', missing]);
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stdout, `${missing}: cannot read the spec: no such file\n`);
    assert.equal(hasStackTrace(r.stdout + r.stderr), false);
  });

  test('plan --provider hyperv --json: one JSON document on stdout, exit 0, no lab folder created', async () => {
    const home = path.join(dir, 'home');
    const r = await labctl(['plan', '--provider', 'hyperv', '--json', '--home', home]);
    assert.equal(r.code, 0, describeRun(r));
    const plan = JSON.parse(r.stdout) as { lab: string; provider: string; steps: { id: string; status: string; script?: string; params?: Record<string, unknown> }[] };
    assert.equal(plan.lab, 'signalr-redis');
    assert.equal(plan.provider, 'hyperv');
    assert.ok(plan.steps.length > 10, `${plan.steps.length} steps`);
    const scripts = plan.steps.filter((s) => s.script);
    assert.ok(scripts.length > 5, 'steps name their PowerShell scripts');
    for (const s of scripts) assert.match(s.script!, /\.ps1$/, s.id);
    // the packaged spec's Windows paths reach the scripts as they are
    assert.ok(r.stdout.includes(JSON.stringify('C:\\labctl\\iso\\ubuntu-24.04.3-live-server-amd64.iso')), 'the Ubuntu ISO path');
    assert.equal(existsSync(home), false, 'plan created the state folder');
  });

  test('bin/labctl without a build: one line saying to build, exit 2', async () => {
    // a copy of the entry point with no dist/ beside it
    const pkg = path.join(dir, 'unbuilt');
    mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    copyFileSync(path.join(REPO_ROOT, 'bin/labctl'), path.join(pkg, 'bin/labctl'));
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'labctl', type: 'module' }));
    const r = await runNode([path.join(pkg, 'bin/labctl'), '--help'], { cwd: pkg });
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stderr, 'labctl: not built yet; run "npm run build" first\n');
  });
});
