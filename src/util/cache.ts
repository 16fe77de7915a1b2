import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** The cache folder of a home (LABCTL_CACHE to share one wider, e.g. in tests), not made. */
export function cacheRoot(home: string): string {
  return process.env.LABCTL_CACHE ? path.resolve(process.env.LABCTL_CACHE) : path.join(home, 'cache');
}

/** Downloads shared by every lab of this home (LABCTL_CACHE to share them wider, e.g. in tests). */
export function cacheDir(home: string, ...parts: string[]): string {
  const dir = path.join(cacheRoot(home), ...parts);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}
