/**
 * Every PowerShell template under templates/ parses with PowerShell's own parser
 * ([System.Management.Automation.Language.Parser]::ParseFile, in real PowerShell 7), with no
 * error. (tree-sitter-powershell, in test/unit/hyperv-templates.test.ts, is a second opinion
 * that needs no PowerShell.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readAst, templateScripts } from './ps-ast.js';

test('every template parses with PowerShell\'s parser, zero errors', () => {
  const files = templateScripts();
  assert.ok(files.length >= 30, `found ${files.length} templates`);
  const facts = readAst(files);
  assert.equal(facts.length, files.length);
  const broken = facts.filter((f) => f.errors.length > 0).map((f) => `${path.relative(process.cwd(), f.file)}: ${f.errors.map((e) => `${e.line}: ${e.message}`).join('; ')}`);
  assert.deepEqual(broken, []);
});

test('the check sees a parse error', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-parse-'));
  try {
    const bad = path.join(dir, 'bad.ps1');
    writeFileSync(bad, 'param([string]$A)\nif ($A -eq "x" { "missing paren" }\n');
    const [f] = readAst([bad]);
    assert.ok(f!.errors.length > 0);
    assert.equal(f!.errors[0]!.line, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
