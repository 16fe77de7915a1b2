/**
 * A clone made by Git for Windows with its default core.autocrlf=true must still have LF line
 * ends in everything labctl sends to Linux guests or renders (templates/, vm-specs/, bin/):
 * .gitattributes pins eol=lf. Run against the committed HEAD of this checkout.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-eol-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

test('a checkout with core.autocrlf=true (Git for Windows\' default) keeps LF in templates/, vm-specs/ and bin/', () => {
  const clone = path.join(tmp, 'clone');
  execFileSync('git', ['clone', '-q', '-c', 'core.autocrlf=true', REPO_ROOT, clone], { stdio: ['ignore', 'ignore', 'pipe'] });
  const checked = ['templates', 'vm-specs', 'bin'].flatMap((d) => files(path.join(clone, d)));
  assert.ok(checked.length > 20, `${checked.length} files`);
  const crlf = checked.filter((f) => readFileSync(f).includes(0x0d)).map((f) => path.relative(clone, f));
  assert.deepEqual(crlf, [], 'files checked out with CR line ends');
});
