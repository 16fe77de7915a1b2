import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../state/atomic.js';
import { cacheRoot } from '../util/cache.js';
import { sha256, sha256File } from '../util/hash.js';
import { buildKey, type BuildKeyFields } from './key.js';

export const ARCHIVE = 'redis.tar.gz';
export const MANIFEST = 'manifest';
const ENTRY = 'entry.json';

/** entry.json: what the entry is a build of, and the digests it is checked against before use. */
export interface CacheEntryInfo {
  key: string;
  fields: BuildKeyFields;
  archive: { sha256: string; bytes: number };
  manifest: { sha256: string; files: number };
  created: string;
  lastUsed: string;
  /** where the source came from, as the deploy said it */
  origin?: string;
  /** lab/machine that built it */
  builtBy?: string;
}

export interface ListedEntry {
  key: string;
  dir: string;
  /** every file of the entry */
  bytes: number;
  info?: CacheEntryInfo;
  /** why the entry cannot be used (no or unreadable entry.json) */
  problem?: string;
  /** when it was last used (or made): what prune --older-than goes by */
  lastUsedMs: number;
}

/** The built Redis trees of a home: <cache>/redis/builds/<key>/{entry.json, redis.tar.gz, manifest}. */
export function buildsDir(home: string): string {
  return path.join(cacheRoot(home), 'redis', 'builds');
}

/**
 * The host's cache of built Redis trees. Entries are installed as root on the lab machines, so
 * the folder must be this user's alone: a folder others can write to, or a symbolic link, is not
 * used (see unsafe()). An entry appears whole, by one rename, and is never trusted blindly:
 * verify() checks its archive and manifest against the digests in its entry.json, and the
 * machine checks every unpacked file against the manifest (templates/redis/build-cache.sh).
 */
export class BuildCache {
  constructor(readonly dir: string) {}

  static forHome(home: string): BuildCache {
    return new BuildCache(buildsDir(home));
  }

  /** Why this folder must not be used, or undefined (also when it does not exist yet). */
  unsafe(): string | undefined {
    let st;
    try {
      st = lstatSync(this.dir);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) return `${this.dir} is a symbolic link`;
    if (!st.isDirectory()) return `${this.dir} is not a folder`;
    if (process.getuid && st.uid !== process.getuid()) return `${this.dir} belongs to another user (uid ${st.uid})`;
    if (process.platform !== 'win32' && (st.mode & 0o022) !== 0) return `${this.dir} can be written by others (mode ${(st.mode & 0o777).toString(8)})`;
    return undefined;
  }

  entryDir(key: string): string {
    return path.join(this.dir, key);
  }

  /** The entry's description, or undefined when there is none (or it cannot be read). */
  lookup(key: string): CacheEntryInfo | undefined {
    try {
      if (!lstatSync(this.entryDir(key)).isDirectory()) return undefined;
      return JSON.parse(readFileSync(path.join(this.entryDir(key), ENTRY), 'utf8')) as CacheEntryInfo;
    } catch {
      return undefined;
    }
  }

  /** What is wrong with the entry's files, or undefined when they are what entry.json says. */
  async verify(key: string): Promise<string | undefined> {
    const info = this.lookup(key);
    if (!info) return 'no readable entry.json';
    if (info.key !== key || buildKey(info.fields) !== key) return 'its entry.json describes another key';
    const archive = path.join(this.entryDir(key), ARCHIVE);
    const manifest = path.join(this.entryDir(key), MANIFEST);
    try {
      const a = await sha256File(archive);
      if (a !== info.archive.sha256) return `${ARCHIVE} has sha256 ${a.slice(0, 12)}…, entry.json says ${info.archive.sha256.slice(0, 12)}…`;
      const m = sha256(readFileSync(manifest));
      if (m !== info.manifest.sha256) return `${MANIFEST} has sha256 ${m.slice(0, 12)}…, entry.json says ${info.manifest.sha256.slice(0, 12)}…`;
    } catch (err) {
      return `a file is missing: ${(err as NodeJS.ErrnoException).code ?? err}`;
    }
    return undefined;
  }

  archivePath(key: string): string {
    return path.join(this.entryDir(key), ARCHIVE);
  }

  manifestPath(key: string): string {
    return path.join(this.entryDir(key), MANIFEST);
  }

  /**
   * Keeps a build: written in a private temporary folder, then renamed into place. Returns false
   * when the key is already there (another lab kept the same build meanwhile): theirs stays.
   */
  put(fields: BuildKeyFields, archive: Buffer, manifest: Buffer, about: Pick<CacheEntryInfo, 'origin' | 'builtBy'> = {}): boolean {
    const key = buildKey(fields);
    this.ensureDir();
    const tmp = path.join(this.dir, `.tmp-${key.slice(0, 12)}-${process.pid}-${Date.now()}`);
    mkdirSync(tmp, { mode: 0o700 });
    try {
      const now = new Date().toISOString();
      const info: CacheEntryInfo = {
        key,
        fields,
        archive: { sha256: sha256(archive), bytes: archive.length },
        manifest: { sha256: sha256(manifest), files: manifest.toString('utf8').split('\n').filter(Boolean).length },
        created: now,
        lastUsed: now,
        ...about,
      };
      writeFileSync(path.join(tmp, ARCHIVE), archive, { mode: 0o600 });
      writeFileSync(path.join(tmp, MANIFEST), manifest, { mode: 0o600 });
      writeFileAtomic(path.join(tmp, ENTRY), JSON.stringify(info, null, 2) + '\n', 0o600);
      try {
        renameSync(tmp, this.entryDir(key));
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
        throw err;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Records a use (prune --older-than goes by it). */
  touch(key: string): void {
    const info = this.lookup(key);
    if (!info) return;
    writeFileAtomic(path.join(this.entryDir(key), ENTRY), JSON.stringify({ ...info, lastUsed: new Date().toISOString() }, null, 2) + '\n', 0o600);
  }

  /** Removes an entry: renamed away first, so no reader ever sees half of one. */
  remove(key: string): void {
    const away = path.join(this.dir, `.removing-${key.slice(0, 12)}-${process.pid}-${Date.now()}`);
    try {
      renameSync(this.entryDir(key), away);
    } catch {
      return; // already gone
    }
    rmSync(away, { recursive: true, force: true });
  }

  /** Every entry, newest use first; entries without a readable entry.json too (with a problem). */
  list(): ListedEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: ListedEntry[] = [];
    for (const key of names.filter((n) => !n.startsWith('.'))) {
      const dir = this.entryDir(key);
      let st;
      try {
        st = lstatSync(dir);
      } catch {
        continue;
      }
      if (!st.isDirectory()) continue;
      const info = this.lookup(key);
      const used = info ? Date.parse(info.lastUsed) || Date.parse(info.created) : NaN;
      out.push({
        key,
        dir,
        bytes: folderBytes(dir),
        info,
        problem: info ? undefined : 'no readable entry.json',
        lastUsedMs: Number.isFinite(used) ? used : st.mtimeMs,
      });
    }
    return out.sort((a, b) => b.lastUsedMs - a.lastUsedMs);
  }

  /** Folders a fill or a removal left when it was interrupted (".tmp-…", ".removing-…"). */
  leftovers(olderThanMs: number, now = Date.now()): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.startsWith('.tmp-') || n.startsWith('.removing-'))
      .map((n) => path.join(this.dir, n))
      .filter((p) => {
        try {
          return now - statSync(p).mtimeMs >= olderThanMs;
        } catch {
          return false;
        }
      });
  }

  private ensureDir(): void {
    mkdirSync(path.dirname(this.dir), { recursive: true, mode: 0o755 });
    try {
      mkdirSync(this.dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    try {
      const st = lstatSync(path.join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      /* removed meanwhile */
    }
  }
  return total;
}
