/**
 * The Administrator password labctl generates for a Windows VM must pass Windows' "Password
 * must meet complexity requirements" (three of: uppercase, lowercase, digits, symbols; and at
 * least six characters), or Windows setup stops at the answer file's oobeSystem pass (the
 * simulated host enforces it: host-windows.test.ts). A password drawn from [A-Za-z0-9] has no
 * digit about 1.5 % of the time at 24 characters ((52/62)^24), so over many draws some fail.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminPassword } from '../../src/providers/hyperv/steps-windows.js';
import { WINDOWS_PASSWORD_SYMBOLS, generateWindowsPassword } from '../../src/state/secrets.js';
import type { LabStore } from '../../src/state/store.js';

/** Microsoft Learn, "Password must meet complexity requirements": the four character classes labctl uses. */
function classes(p: string): string[] {
  const out: string[] = [];
  if (/[A-Z]/.test(p)) out.push('upper');
  if (/[a-z]/.test(p)) out.push('lower');
  if (/[0-9]/.test(p)) out.push('digit');
  if (/[^A-Za-z0-9]/.test(p)) out.push('symbol');
  return out;
}

test('every Administrator password labctl makes has upper, lower, digit and symbol (3000 machines)', () => {
  // a store that makes a new secret every time: each call is a fresh draw of what create does
  const store = { secrets: { ensure: (_name: string, make: () => string) => make() } } as unknown as LabStore;
  const weak: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const p = adminPassword(store, `web${i}`);
    if (classes(p).length < 4 || p.length < 14) weak.push(p);
  }
  assert.deepEqual(weak.slice(0, 5), [], `${weak.length} of 3000 passwords miss a class Windows counts`);
});

test('generateWindowsPassword: safe in XML and PowerShell, each class present, each class anywhere', () => {
  const forbidden = /[<>&'"$\\`\s]/;
  assert.doesNotMatch(WINDOWS_PASSWORD_SYMBOLS, forbidden);
  const seen: Record<string, Set<number>> = { upper: new Set(), lower: new Set(), digit: new Set(), symbol: new Set() };
  for (let i = 0; i < 20000; i++) {
    const p = generateWindowsPassword(24);
    assert.equal(p.length, 24);
    assert.doesNotMatch(p, forbidden, p);
    assert.deepEqual(classes(p), ['upper', 'lower', 'digit', 'symbol'], p);
    [...p].forEach((ch, pos) => seen[classes(ch)[0]!]!.add(pos));
  }
  // the guaranteed characters are not always at the same places: every class shows up at every position
  for (const [k, positions] of Object.entries(seen)) assert.equal(positions.size, 24, `${k} never at some position`);
  assert.equal(generateWindowsPassword(8).length, 8);
  assert.throws(() => generateWindowsPassword(3), /at least 4/);
});
