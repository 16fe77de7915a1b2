import { sha256 } from '../util/hash.js';

/**
 * How labctl builds Redis (templates/redis/build.sh: plain `make`, `make install`). Part of
 * every key, so a change to what the recipe produces (say, BUILD_TLS=yes) makes the old
 * entries misses instead of installing builds made the old way: raise it with such a change.
 */
export const BUILD_RECIPE = 1;

/** What a build of Redis depends on: same fields, same binaries. */
export interface BuildKeyFields {
  recipe: number;
  redisVersion: string;
  sourceSha256: string;
  /** `uname -m` of the machine that builds */
  arch: string;
  /** from its /etc/os-release: ID, VERSION_ID and VERSION_CODENAME (the libc and headers come with it) */
  distribution: string;
  /** the first line of its `cc --version` */
  compiler: string;
}

/** The machine's part of the key, as `build-cache.sh facts` prints it. */
export interface MachineFacts {
  arch: string;
  distribution: string;
  compiler: string;
}

/**
 * Reads `build-cache.sh facts`. A machine without a compiler or an os-release gives no key:
 * what its build would depend on is unknown, so it neither uses nor fills the cache.
 */
export function parseMachineFacts(text: string): MachineFacts | { missing: string } {
  const lines = text.split('\n');
  const value = (prefix: string) => lines.find((l) => l.startsWith(`${prefix} `))?.slice(prefix.length + 1).trim() ?? '';
  const osRelease = new Map<string, string>();
  for (const l of lines) {
    const m = /^os-release ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l);
    if (m) osRelease.set(m[1]!, unquote(m[2]!.trim()));
  }
  const arch = value('arch');
  const compiler = value('compiler');
  const id = osRelease.get('ID') ?? '';
  const distribution = [id, osRelease.get('VERSION_ID'), osRelease.get('VERSION_CODENAME') && `(${osRelease.get('VERSION_CODENAME')})`].filter(Boolean).join(' ');
  if (!arch) return { missing: 'the machine did not say its architecture (uname -m)' };
  if (!compiler) return { missing: 'no C compiler answers cc --version' };
  if (!id) return { missing: 'no /etc/os-release with an ID' };
  return { arch, distribution, compiler };
}

/** os-release values may be quoted, in shell style (os-release(5)). */
function unquote(v: string): string {
  const m = /^(["'])(.*)\1$/.exec(v);
  return m ? m[2]!.replace(/\\(["\\$`])/g, '$1') : v;
}

export function keyFields(facts: MachineFacts, redisVersion: string, sourceSha256: string): BuildKeyFields {
  return { recipe: BUILD_RECIPE, redisVersion, sourceSha256, arch: facts.arch, distribution: facts.distribution, compiler: facts.compiler };
}

/** The entry's name: sha256 of the fields in a fixed order (an object's own order could vary). */
export function buildKey(f: BuildKeyFields): string {
  return sha256(JSON.stringify([f.recipe, f.redisVersion, f.sourceSha256, f.arch, f.distribution, f.compiler]));
}
