/**
 * The NoCloud seed ISO written by Node for Windows is byte for byte the one Linux Node writes for
 * the same input: scripts/test-windows-node.mjs computes the Linux sha256 in the same run and
 * passes it in LABCTL_LINUX_SEED_SHA256.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMetaData, renderUserData } from '../../src/providers/hyperv/seed.js';
import { SEED_INPUT, seedIso, sha256 } from './seed-fixture.js';

const linux = process.env.LABCTL_LINUX_SEED_SHA256;

test('the seed ISO is an ISO 9660 disc labelled CIDATA holding user-data and meta-data as rendered', () => {
  const iso = seedIso();
  assert.equal(iso.length % 2048, 0);
  assert.equal(iso.toString('ascii', 16 * 2048 + 1, 16 * 2048 + 6), 'CD001');
  assert.equal(iso.toString('ascii', 16 * 2048 + 40, 16 * 2048 + 46), 'CIDATA');
  const userData = renderUserData(SEED_INPUT);
  const metaData = renderMetaData(SEED_INPUT);
  assert.equal(userData.split('\n')[0], '#cloud-config');
  assert.equal(userData.includes('\r'), false, 'user-data has Unix line ends');
  assert.ok(iso.includes(Buffer.from(userData, 'utf8')), 'user-data is on the disc as rendered');
  assert.ok(iso.includes(Buffer.from(metaData, 'utf8')), 'meta-data is on the disc as rendered');
});

test(
  'the seed ISO bytes are the ones Linux Node writes for the same input',
  { skip: linux === undefined && process.platform !== 'win32' ? 'Linux is the reference: scripts/test-windows-node.mjs compares Windows against it' : false },
  () => {
    assert.ok(linux, 'LABCTL_LINUX_SEED_SHA256 is not set: run this through scripts/test-windows-node.mjs, which computes it on Linux');
    assert.match(linux, /^[0-9a-f]{64}$/);
    assert.equal(sha256(seedIso()), linux);
  },
);
