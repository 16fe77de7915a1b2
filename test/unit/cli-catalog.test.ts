/**
 * The CLI loads a command's code only when it runs (src/cli/commands/catalog.ts): the catalog's
 * names, arguments and descriptions must be the commands' own, `labctl --help` must read the
 * same as with every command loaded, and --help must load nothing but commander.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Command } from 'commander';
import { CATALOG, commandOf } from '../../src/cli/commands/catalog.js';
import { buildProgram } from '../../src/cli/main.js';
import { assertBuilt, LABCTL_BIN, REPO_ROOT, runCli } from '../helpers/cli.js';

describe('the command catalog', () => {
  for (const entry of CATALOG) {
    test(`${entry.name}: the catalog's arguments and description are the command's own`, async () => {
      const program = new Command('labctl').enablePositionalOptions();
      (await entry.load())(program);
      const cmd = program.commands.find((c) => c.name() === entry.name);
      assert.ok(cmd, `${entry.name} registers a command of that name`);
      assert.equal(cmd.description(), entry.description);
      const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`)).join(' ');
      assert.equal(args, entry.args);
      assert.equal(Boolean((cmd as unknown as { _passThroughOptions?: boolean })._passThroughOptions), Boolean(entry.passThrough), 'passes its options on');
    });
  }

  test('labctl --help reads the same with only the catalog as with every command loaded', async () => {
    const light = await buildProgram(['node', 'labctl', '--help']);
    const full = await buildProgram([], { all: true });
    assert.equal(light.helpInformation(), full.helpInformation());
  });

  test('every command has --help with examples', async () => {
    for (const entry of CATALOG.filter((e) => !e.hidden)) {
      const r = await runCli([entry.name, '--help']);
      assert.equal(r.code, 0, `${entry.name} --help: ${r.stderr}`);
      assert.match(r.stdout, /Examples:\n/, `${entry.name} --help has examples`);
    }
  });

  test('the command word is found past labctl\'s own options, and help X loads X', () => {
    assert.equal(commandOf(['--spec', 'status', 'ls']), 'ls');
    assert.equal(commandOf(['--json', '--lab', 'x', 'teardown', '--yes']), 'teardown');
    assert.equal(commandOf(['help', 'deploy']), 'deploy');
    assert.equal(commandOf(['--help']), undefined);
    assert.equal(commandOf([]), undefined);
  });

  test('an unknown command is refused with a suggestion, as before', async () => {
    const r = await runCli(['stauts']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'stauts'/);
    assert.match(r.stderr, /Did you mean status\?/);
  });

  test('labctl --help loads commander and labctl\'s catalog, no command and no other package', () => {
    assertBuilt();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-trace-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      path.join(dir, 'hooks.mjs'),
      "export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith('file:')) process._rawDebug('LOADED ' + r.url); return r; }\n",
    );
    writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${path.join(dir, 'hooks.mjs')}`).href)});\n`);
    const r = spawnSync(process.execPath, ['--import', path.join(dir, 'register.mjs'), LABCTL_BIN, '--help'], { encoding: 'utf8', cwd: REPO_ROOT });
    assert.equal(r.status, 0, r.stderr);
    const loaded = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => path.relative(REPO_ROOT, new URL(l.slice(7)).pathname));
    const packages = [...new Set(loaded.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/')[1]))];
    assert.deepEqual(packages, ['commander']);
    assert.deepEqual(
      loaded.filter((f) => f.startsWith('dist/cli/commands/')),
      ['dist/cli/commands/catalog.js'],
    );
  });
});
