import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { generateSshKeyPair, publicKeyBlob } from '../../src/transports/ssh.js';

describe('SSH keys labctl generates', () => {
  it('always parse back (ssh2 alone writes an unreadable key about 1 time in 300)', () => {
    for (let i = 0; i < 1500; i++) {
      const pair = generateSshKeyPair('t');
      assert.ok(!(ssh2.utils.parseKey(pair.privateKey) instanceof Error), `key ${i} does not parse`);
    }
  });

  it('are read by OpenSSH, which derives the same public key', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-keys-'));
    try {
      for (let i = 0; i < 20; i++) {
        const pair = generateSshKeyPair(`k${i}`);
        const file = path.join(dir, `k${i}`);
        writeFileSync(file, pair.privateKey, { mode: 0o600 });
        const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
        assert.ok(publicKeyBlob(derived).equals(publicKeyBlob(pair.publicKey)), `key ${i}: OpenSSH derives another public key`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
