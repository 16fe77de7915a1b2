import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** Downloads shared by every lab of this home (LABCTL_CACHE to share them wider, e.g. in tests). */
export function cacheDir(home: string, ...parts: string[]): string {
  const dir = path.join(process.env.LABCTL_CACHE ? path.resolve(process.env.LABCTL_CACHE) : path.join(home, 'cache'), ...parts);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}
