import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OperationError } from './errors.js';
import { sha256File } from './hash.js';
import { proxiedFetch } from './proxy.js';

/**
 * Downloads to `dest` only if the bytes have the expected sha256; a mismatch leaves
 * nothing behind (the partial file is removed). Honours HTTPS_PROXY / NO_PROXY.
 */
export async function downloadVerified(url: string, sha256: string, dest: string): Promise<void> {
  const partial = `${dest}.partial`;
  try {
    const res = await proxiedFetch(url, { redirect: 'follow' });
    if (!res.ok || !res.body) throw new OperationError(`download of ${url} failed: HTTP ${res.status}`);
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(partial));
    const got = await sha256File(partial);
    if (got !== sha256) throw new OperationError(`sha256 mismatch for ${url}: expected ${sha256}, got ${got}; the file was discarded`);
    renameSync(partial, dest);
  } catch (err) {
    rmSync(partial, { force: true });
    if (err instanceof OperationError) throw err;
    throw new OperationError(`download of ${url} failed: ${(err as Error).message}`);
  }
}
