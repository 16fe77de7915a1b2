import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OperationError } from '../../util/errors.js';
import { sha256File } from '../../util/hash.js';
import { createHash } from 'node:crypto';

/** The bundled chat app (server.cjs + public/), built by `npm run build` into dist/app. */
export const APP_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/app');

export interface AppBundle {
  dir: string;
  /** paths relative to dir */
  files: string[];
  /** sha256 over every file's name and content: the version of the app */
  hash: string;
}

export async function loadBundle(dir = APP_DIST): Promise<AppBundle> {
  if (!existsSync(path.join(dir, 'server.cjs'))) {
    throw new OperationError(`the chat app is not built (${path.join(dir, 'server.cjs')} is missing): run npm run build`);
  }
  // only what esbuild wrote: tsc also emits type-only modules of src/app next to it
  const files = ['server.cjs', 'package.json', ...walk(dir, 'public')].filter((f) => existsSync(path.join(dir, f))).sort();
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f}\0${await sha256File(path.join(dir, f))}\0`);
  return { dir, files, hash: hash.digest('hex') };
}

function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(path.join(dir, rel)).isDirectory()) out.push(...walk(dir, rel));
    else if (!name.endsWith('.map')) out.push(rel);
  }
  return out;
}
