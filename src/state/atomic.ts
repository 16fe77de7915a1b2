import { closeSync, fsyncSync, openSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes a file so that a reader (or a crash) only ever sees the old or the new
 * content: write a temporary file in the same folder, fsync it, rename it over the
 * target, then fsync the folder so the rename itself is durable (best effort on Windows,
 * which refuses to flush a folder: see syncFolder).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    removeQuietly(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  }
  syncFolder(path.dirname(file));
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}

/**
 * Flushes a folder, so a rename in it survives a crash. Windows does not allow it: Node opens
 * a folder there without write access, and FlushFileBuffers on such a handle fails with
 * ERROR_ACCESS_DENIED (EPERM). There the flush is skipped when refused, and only then: NTFS
 * journals the rename in its metadata log, so after a crash the file is the old or the new
 * version, never a torn one; only a rename made just before a power cut may be lost (the file
 * then reads one change older). Every other error, and any error on another OS, is thrown.
 * The file's own data was flushed before the rename either way.
 */
function syncFolder(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (err) {
    if (folderSyncRefused(err)) return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    if (!folderSyncRefused(err)) throw err;
  } finally {
    closeSync(fd);
  }
}

/**
 * True for the errors by which Windows refuses to open or flush a folder: EPERM (what Node gives
 * for ERROR_ACCESS_DENIED), EISDIR, EINVAL, EBADF (a handle not opened for writing). Only on win32.
 */
export function folderSyncRefused(err: unknown, platform: NodeJS.Platform = process.platform): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return platform === 'win32' && code !== undefined && ['EPERM', 'EISDIR', 'EINVAL', 'EBADF'].includes(code);
}
