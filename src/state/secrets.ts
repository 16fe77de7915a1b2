import { randomBytes, randomInt } from 'node:crypto';
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

/**
 * Symbols for Windows passwords: none of them means anything in XML text (an answer file),
 * in a PowerShell string or on a command line: no < > & ' " $ \ ` and no whitespace.
 */
export const WINDOWS_PASSWORD_SYMBOLS = '!#%*+-.:=?@^_~';

/**
 * A password that meets Windows' "Password must meet complexity requirements" (characters
 * from three of: uppercase, lowercase, digits, symbols; Microsoft Learn, security policy
 * settings): it has all four, each at a uniformly random position, every character drawn
 * uniformly (crypto.randomInt). generatePassword's [A-Za-z0-9] lacks a digit about 1.5 % of
 * the time at 24 characters, and Windows setup then stops at the Administrator password.
 */
export function generateWindowsPassword(length = 24): string {
  if (length < 4) throw new Error('a Windows password needs at least 4 characters (one of each class)');
  const classes = ['ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz', '0123456789', WINDOWS_PASSWORD_SYMBOLS];
  const all = classes.join('');
  const pick = (set: string) => set[randomInt(set.length)]!;
  const chars = [...classes.map(pick), ...Array.from({ length: length - classes.length }, () => pick(all))];
  // Fisher-Yates: the four guaranteed characters end up anywhere
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
