/**
 * Two labs with different names and subnets exist side by side: each works, neither can
 * reach the other (no route between them: the machines' only route is their own subnet),
 * and tearing one down leaves the other whole.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createLabFixture } from '../helpers/lab.js';
import { REPO_ROOT } from '../helpers/cli.js';

const probe = path.join(REPO_ROOT, 'test/helpers/scripts/tcp-probe.mjs');

describe('two labs side by side', { timeout: 120_000 }, () => {
  it('both run, are isolated from each other, and one teardown leaves the other intact', async () => {
    const [a, b] = await Promise.all([
      createLabFixture({ subnet: '198.18.104.0/24', prefix: 'sa' }),
      createLabFixture({ subnet: '198.18.105.0/24', prefix: 'sb' }),
    ]);
    try {
      await Promise.all([a.create(), b.create()]);
      const own = await a.ssh('web1', `${process.execPath} ${probe} ${a.ip('redis')}:22`);
      assert.equal(own.code, 0, own.stdout + own.stderr);
      const other = await a.ssh('web1', `${process.execPath} ${probe} ${b.ip('redis')}:22`);
      assert.equal(other.code, 1, `lab ${a.name} reached lab ${b.name}: ${other.stdout}`);
      assert.match(other.stdout, /ENETUNREACH|EHOSTUNREACH/, 'refused locally for want of a route, not after sending');

      await a.teardown();
      assert.deepEqual(a.leftovers(), []);
      const status = JSON.parse((await b.cli(['status', '--json'])).stdout);
      assert.deepEqual(status.machines.map((m: { state: string }) => m.state), ['running', 'running', 'running']);
      const still = await b.ssh('web2', `${process.execPath} ${probe} ${b.ip('redis')}:22 ${b.ip('web1')}:22`);
      assert.equal(still.code, 0, still.stdout + still.stderr);
      await b.teardown();
      assert.deepEqual(b.leftovers(), []);
    } finally {
      const forced = [...(await a.cleanup()), ...(await b.cleanup())];
      assert.deepEqual(forced, []);
    }
  });
});
