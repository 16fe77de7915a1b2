/**
 * verify --browser without Chromium: one line saying how to install it, exit 2, before any
 * lab is touched; verify without --browser never asks for a browser.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { labctl, hasStackTrace } from '../helpers/cli.js';

describe('verify --browser when Chromium is missing', () => {
  it('exits 2 with how to install it, and creates nothing', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'labctl-nobrowser-'));
    try {
      for (const cmd of [['verify', '--browser'], ['up', '--browser']]) {
        const r = await labctl(['--home', home, ...cmd], { env: { LABCTL_CHROMIUM: '/nonexistent/chromium' } });
        assert.equal(r.code, 2, `${cmd.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /Chromium is not installed \(\/nonexistent\/chromium\): apt-get install chromium/);
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
        assert.ok(!hasStackTrace(r.stderr));
        assert.ok(!existsSync(path.join(home, 'labs')), 'nothing created');
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('verify without --browser does not look for a browser (it fails for the missing lab instead)', async () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'labctl-nobrowser-'));
    try {
      const r = await labctl(['--home', home, 'verify'], { env: { LABCTL_CHROMIUM: '/nonexistent/chromium' } });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /is not created: run labctl up/);
      assert.doesNotMatch(r.stderr, /Chromium/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
