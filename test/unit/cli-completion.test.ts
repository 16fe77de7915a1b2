/**
 * `labctl completion bash|zsh|powershell`: each script parses in its own shell (bash -n, zsh -n,
 * PowerShell's parser) and, run there, completes commands, options, log names and the machine
 * names of the spec on the line (asked of labctl itself through `labctl __complete`). No root,
 * no lab: the machine names come from a spec file, the lab names from a home with a state file.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertBuilt, LABCTL_BIN, REPO_ROOT, runCli } from '../helpers/cli.js';

const PWSH = path.join(REPO_ROOT, '.tools/pwsh/pwsh');
const have = (file: string) => spawnSync('sh', ['-c', `command -v ${file}`]).status === 0;

describe('labctl completion', () => {
  let dir: string;
  let exe: string;
  let spec: string;
  let home: string;
  const scripts: Record<string, string> = {};

  before(async () => {
    assertBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-completion-'));
    // the completion scripts run labctl as it was typed: here a wrapper named labctl on PATH
    mkdirSync(path.join(dir, 'bin'));
    exe = path.join(dir, 'bin', 'labctl');
    writeFileSync(exe, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(LABCTL_BIN)} "$@"\n`);
    chmodSync(exe, 0o755);
    spec = path.join(dir, 'my lab.yaml');
    writeFileSync(
      spec,
      'name: comp-lab\nnetwork: { subnet: 198.18.20.0/24 }\nredis: { version: 7.0.15 }\napp: { port: 80 }\nmachines:\n  cache: { role: redis, os: ubuntu, ip: 198.18.20.10 }\n  front1: { role: web, os: ubuntu, ip: 198.18.20.11 }\n  front2: { role: web, os: windows, ip: 198.18.20.12 }\n',
    );
    // a lab under the home: a state file is what makes a folder a lab
    home = path.join(dir, 'home');
    mkdirSync(path.join(home, 'labs', 'other-lab'), { recursive: true });
    writeFileSync(path.join(home, 'labs', 'other-lab', 'state.json'), '{"version":1}\n');
    for (const shell of ['bash', 'zsh', 'powershell']) {
      const r = await runCli(['completion', shell]);
      assert.equal(r.code, 0, r.stderr);
      scripts[shell] = r.stdout;
      writeFileSync(path.join(dir, `labctl.${shell === 'powershell' ? 'ps1' : shell}`), r.stdout);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const env = () => ({ ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, LABCTL_HOME: home });

  test('an unknown shell is refused with the ones there are', async () => {
    const r = await runCli(['completion', 'fish']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bash, zsh, powershell/);
  });

  test('__complete names the spec\'s machines, the home\'s labs, and stays quiet on a bad spec', () => {
    const ask = (...args: string[]) => execFileSync(exe, args, { env: env(), encoding: 'utf8' });
    assert.equal(ask('--spec', spec, '__complete', 'machines'), 'cache\nfront1\nfront2\n');
    assert.equal(ask('__complete', 'labs'), 'other-lab\n');
    const bad = spawnSync(exe, ['--spec', path.join(dir, 'missing.yaml'), '__complete', 'machines'], { env: env(), encoding: 'utf8' });
    assert.equal(bad.status, 0);
    assert.equal(bad.stdout + bad.stderr, '');
  });

  test('bash: the script parses (bash -n) and completes commands, options, logs and machine names', () => {
    const file = path.join(dir, 'labctl.bash');
    assert.equal(spawnSync('bash', ['-n', file]).status, 0, 'bash -n');
    const complete = (words: string[]) => {
      const arr = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
      const r = spawnSync('bash', ['-c', `source '${file}'; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _labctl; printf '%s\\n' "\${COMPREPLY[@]}"`], { env: env(), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete(['labctl', 'st']), ['status', 'stop', 'start']);
    assert.deepEqual(complete(['labctl', 're']), ['recreate', 'redis-cli']);
    assert.deepEqual(complete(['labctl', '--spec', spec, 'ssh', '']), ['cache', 'front1', 'front2']);
    assert.deepEqual(complete(['labctl', '--spec', spec, 'deploy', 'front1', 'fr']), ['front1', 'front2']);
    assert.deepEqual(complete(['labctl', '--spec', spec, 'logs', 'cache', '']), ['redis', 'app', 'build', 'sshd', 'console']);
    assert.deepEqual(complete(['labctl', 'verify', '--cl']), ['--clients']);
    assert.deepEqual(complete(['labctl', 'verify', '--clients', '']), [], 'an option\'s value is not a machine');
    assert.deepEqual(complete(['labctl', 'checkpoint', '']), ['save', 'restore', 'list', 'remove']);
    assert.deepEqual(complete(['labctl', 'cache', '']), ['ls', 'prune']);
    assert.deepEqual(complete(['labctl', 'cache', 'prune', '--']).slice(0, 2), ['--all', '--older-than']);
    assert.deepEqual(complete(['labctl', 'cache', 'prune', '--older-than', '']), [], 'an age is not an action');
    assert.deepEqual(complete(['labctl', 'up', '--no-c']), ['--no-cache']);
    assert.deepEqual(complete(['labctl', '--lab', '']), ['other-lab']);
    assert.deepEqual(complete(['labctl', '--js']), ['--json']);
  });

  test('zsh: the script parses (zsh -n) and completes commands and machine names', { skip: !have('zsh') && 'zsh is not installed (scripts/install-system-deps.sh installs it)' }, () => {
    const file = path.join(dir, 'labctl.zsh');
    const parsed = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
    assert.equal(parsed.status, 0, parsed.stderr);
    // outside a completion widget compadd and _describe do nothing: stand-ins print what they get
    const complete = (words: string[]) => {
      const arr = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
      const r = spawnSync(
        'zsh',
        ['-f', '-c', `source '${file}'; compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }; _describe() { local -a c; c=(\${(P)4}); print -l -- \${c%%:*} }; _files() { print FILES }; words=(${arr}); CURRENT=${words.length}; _labctl`],
        { env: env(), encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };
    assert.ok(complete(['labctl', '']).includes('checkpoint'), 'commands');
    assert.deepEqual(complete(['labctl', '--spec', spec, 'recreate', '']), ['cache', 'front1', 'front2']);
    assert.deepEqual(complete(['labctl', 'logs', 'x', '']), ['redis', 'app', 'build', 'sshd', 'console']);
    assert.deepEqual(complete(['labctl', '--lab', '']), ['other-lab']);
    assert.ok(complete(['labctl', 'stop', '--']).includes('--save'), 'a command\'s options');
    assert.deepEqual(complete(['labctl', 'cache', '']), ['ls', 'prune']);
  });

  test('PowerShell: the script parses without errors and TabExpansion2 completes through it', { skip: !existsSync(PWSH) && 'no PowerShell at .tools/pwsh (scripts/install-pwsh.sh installs it)' }, () => {
    const file = path.join(dir, 'labctl.ps1');
    const probe = path.join(dir, 'probe.ps1');
    const lines = ['labctl st', `labctl --spec '${spec}' open `, 'labctl logs web1 ', 'labctl --lab ', 'labctl checkpoint re', 'labctl cache '];
    writeFileSync(
      probe,
      [
        `$errors = $null`,
        `[void][System.Management.Automation.Language.Parser]::ParseFile('${file}', [ref]$null, [ref]$errors)`,
        `Write-Output "errors=$($errors.Count)"`,
        `. '${file}'`,
        ...lines.map((l) => `$r = TabExpansion2 -inputScript "${l.replace(/"/g, '`"')}" -cursorColumn ${l.length}; Write-Output ("${l.replace(/"/g, '`"').replace(/\$/g, '`$')} => " + (($r.CompletionMatches | ForEach-Object { $_.CompletionText }) -join ' '))`),
      ].join('\n'),
    );
    const r = spawnSync(PWSH, ['-NoProfile', '-NonInteractive', '-File', probe], { env: env(), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.split(/\r?\n/);
    assert.ok(out.includes('errors=0'), r.stdout);
    assert.ok(out.includes('labctl st => status stop start'), r.stdout);
    assert.ok(out.includes(`labctl --spec '${spec}' open  => cache front1 front2`), r.stdout);
    assert.ok(out.includes('labctl logs web1  => redis app build sshd console'), r.stdout);
    assert.ok(out.includes('labctl --lab  => other-lab'), r.stdout);
    assert.ok(out.includes('labctl checkpoint re => restore remove'), r.stdout);
    assert.ok(out.includes('labctl cache  => ls prune'), r.stdout);
  });
});
