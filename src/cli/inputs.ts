import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../util/errors.js';

/**
 * Checks of what the command line names — the home, the spec, a file to upload — made before
 * anything is created, so that a wrong path is one line and exit 2, never an internal error
 * half-way (a home that is a file used to end in "ENOTDIR: mkdir ...").
 */

const why = (code: string | undefined) =>
  code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of the path is a file, not a folder' : (code ?? 'unreadable');

/** --home (or LABCTL_HOME): not empty, and a folder if it exists (or where it can be made). */
export function checkHome(home: string | undefined, from = '--home'): void {
  if (home === undefined) return;
  if (home.trim() === '') throw new UsageError(`${from} is empty: give a folder (or leave it out for ~/.labctl)`);
  // the path itself, or the first part of it that exists, must be a folder
  for (let dir = path.resolve(home); ; dir = path.dirname(dir)) {
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && path.dirname(dir) !== dir) continue;
      throw new UsageError(`${from} ${home}: ${why(code)}`);
    }
    if (!isDir) throw new UsageError(`${from} ${home}: ${dir === path.resolve(home) ? 'is a file, not a folder' : `${dir} is a file, not a folder`}`);
    return;
  }
}

/** --spec: not empty (an empty value would silently mean the default spec). */
export function checkSpecOption(spec: string | undefined): void {
  if (spec !== undefined && spec.trim() === '') throw new UsageError('--spec is empty: give a spec file (or leave it out for ./labctl.yaml or the packaged lab)');
}

/** A readable regular file, for options that name one (--redis-tarball): the commander parser. */
export function readableFile(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('give a file');
  let stat;
  try {
    stat = statSync(value);
    accessSync(value, constants.R_OK);
  } catch (err) {
    throw new InvalidArgumentError(`${why((err as NodeJS.ErrnoException).code)}`);
  }
  if (stat.isDirectory()) throw new InvalidArgumentError('is a folder, not a file');
  if (!stat.isFile()) throw new InvalidArgumentError('is not a regular file');
  return value;
}
