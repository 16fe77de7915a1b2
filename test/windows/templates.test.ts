/**
 * templates/ is found from the built code under Windows paths: from the compiled copy this suite
 * runs, and from dist/ (what bin/labctl loads), and a template renders there.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { renderTemplate, TEMPLATES_DIR, templatePath } from '../../src/util/template.js';
import { FROM_SOURCE, REPO_ROOT } from './support.js';

type TemplateModule = typeof import('../../src/util/template.js');

function checkTemplates(m: TemplateModule, expectedDir: string): void {
  assert.equal(m.TEMPLATES_DIR, expectedDir);
  assert.ok(path.isAbsolute(m.TEMPLATES_DIR));
  if (process.platform === 'win32') {
    assert.match(m.TEMPLATES_DIR, /^[A-Za-z]:\\/, 'a Windows path');
    assert.equal(m.TEMPLATES_DIR.includes('/'), false, `no forward slash in ${m.TEMPLATES_DIR}`);
  }
  const ps1 = m.templatePath('hyperv/new-vm.ps1');
  assert.equal(ps1, path.join(expectedDir, 'hyperv', 'new-vm.ps1'));
  assert.ok(existsSync(ps1), ps1);
  const meta = m.renderTemplate('hyperv/autoinstall/meta-data', { instanceId: '"labctl-lab-redis"', hostname: '"redis"' });
  assert.match(meta, /^instance-id: "labctl-lab-redis"$/m);
  assert.match(meta, /^local-hostname: "redis"$/m);
  assert.throws(() => m.renderTemplate('hyperv/autoinstall/meta-data', { instanceId: 'x' }), /no value for \{\{hostname\}\}/);
}

test('the code this suite runs finds templates/ beside its src/ folder', () => {
  // from source: the checkout's; compiled: the copy scripts/test-windows-node.mjs puts beside .build/windows/src
  const expected = FROM_SOURCE ? path.join(REPO_ROOT, 'templates') : path.join(REPO_ROOT, '.build', 'windows', 'templates');
  checkTemplates({ TEMPLATES_DIR, templatePath, renderTemplate } as TemplateModule, expected);
  assert.equal(readFileSync(templatePath('hyperv/new-vm.ps1'), 'utf8'), readFileSync(path.join(REPO_ROOT, 'templates/hyperv/new-vm.ps1'), 'utf8'));
});

test('dist/ (what bin/labctl runs) finds the package\'s templates/', async () => {
  const built = path.join(REPO_ROOT, 'dist/util/template.js');
  assert.ok(existsSync(built), `${built} is missing: build first (npx tsc -p tsconfig.json)`);
  const m = (await import(pathToFileURL(built).href)) as TemplateModule;
  checkTemplates(m, path.join(REPO_ROOT, 'templates'));
});
