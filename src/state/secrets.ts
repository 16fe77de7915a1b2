import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

/**
 * Secrets live in files of mode 0600 in a folder of mode 0700, never in state.json.
 *
 * On Windows the modes are not enforced (Node maps them to the read-only attribute only; a
 * file reads back as 0666): there a secret is protected by the NTFS ACL its folder inherits.
 * The default home, %USERPROFILE%\.labctl, inherits the profile's ACL (that user, SYSTEM and
 * Administrators); a --home or LABCTL_HOME elsewhere gets that folder's ACL, which may let other
 * users read. See docs/windows-node.md.
 */
export class SecretStore {
  constructor(readonly dir: string) {}

  path(name: string): string {
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) throw new Error(`bad secret name ${name}`);
    return path.join(this.dir, name);
  }

  has(name: string): boolean {
    return existsSync(this.path(name));
  }

  read(name: string): string {
    return readFileSync(this.path(name), 'utf8');
  }

  write(name: string, value: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    writeFileAtomic(this.path(name), value, 0o600);
  }

  /** Returns the secret, creating it with `make` the first time. */
  ensure(name: string, make: () => string): string {
    if (this.has(name)) return this.read(name);
    const value = make();
    this.write(name, value);
    return value;
  }
}

/** A password of `length` characters from [A-Za-z0-9], uniformly drawn (no modulo bias). */
export function generatePassword(length = 40): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += alphabet[byte % 62];
    }
  }
  return out;
}
