/**
 * One fixed NoCloud seed input. scripts/test-windows-node.mjs builds its ISO with Linux Node and
 * hands the sha256 to the Windows run (LABCTL_LINUX_SEED_SHA256), where seed.test.ts builds the
 * same ISO with Node for Windows and compares.
 */
import { createHash } from 'node:crypto';
import { buildSeedIso, type SeedInput } from '../../src/providers/hyperv/seed.js';

export const SEED_DATE = new Date(Date.UTC(2026, 10, 29, 12, 34, 56));

export const SEED_INPUT: SeedInput = {
  lab: 'signalr-redis',
  machine: { name: 'redis', index: 0, role: 'redis', os: 'ubuntu', ip: '10.123.0.10', cpus: 2, memoryBytes: 2 ** 31, diskBytes: 20 * 2 ** 30 },
  mac: '00155D66DA67',
  prefix: 24,
  gateway: '10.123.0.1',
  dns: ['10.0.0.53', '10.0.1.53'],
  user: 'labctl',
  authorizedKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHxfixedfixedfixedfixedfixedfixedfixedfixedfi labctl@signalr-redis',
  hostKey: {
    privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nfixed-not-a-real-key\nsecond line\n-----END OPENSSH PRIVATE KEY-----\n',
    publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixedFixedFixedFixedFixedFixedFixedFixedFi redis.signalr-redis',
  },
};

export function seedIso(): Buffer {
  return buildSeedIso(SEED_INPUT, SEED_DATE);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
