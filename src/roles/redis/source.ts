import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LabSpec } from '../../spec/types.js';
import { cacheDir } from '../../util/cache.js';
import { downloadVerified } from '../../util/download.js';
import { OperationError } from '../../util/errors.js';
import { sha256File } from '../../util/hash.js';
import { renderTemplate, templatePath } from '../../util/template.js';
import { shq, type Transport } from '../../transports/transport.js';
import { PINNED_REDIS_RELEASES } from '../../spec/redis-releases.js';
import { debSrcLines, parseDeb822, parseOneLine, type AptEntry } from './apt-sources.js';

/** The Redis source a deploy builds from, once resolved. Recorded in the lab's journal. */
export interface ResolvedSource {
  kind: 'distro' | 'url' | 'tarball';
  version: string;
  sha256: string;
  /** a file on the host, uploaded to the machine; absent when the machine downloads `url` itself */
  file?: string;
  url?: string;
  /** what a person reads: where the source came from */
  origin: string;
}

export interface SourceContext {
  spec: LabSpec;
  home: string;
  providerName: string;
  /** the host runs the fetch when the machine has no route out */
  offline: boolean;
  /** runs commands where the fetch happens (the host, or the machine) */
  fetcher: () => Promise<Transport>;
  log: (line: string) => void;
}

/** auto means: the distribution's source package on netns, the pinned upstream tarball elsewhere. */
export function effectiveSourceKind(spec: LabSpec, providerName: string): 'distro' | 'url' | 'tarball' {
  const s = spec.redis.source;
  if (s.kind === 'auto') return providerName === 'netns' ? 'distro' : 'url';
  return s.kind;
}

export async function resolveSource(ctx: SourceContext): Promise<ResolvedSource> {
  const { spec } = ctx;
  const kind = effectiveSourceKind(spec, ctx.providerName);
  const source = spec.redis.source;
  if (kind === 'tarball' && source.kind === 'tarball') return localTarball(source.path, source.sha256, spec.redis.version);
  if (kind === 'url') {
    const { url, sha256 } = source.kind === 'url' ? source : pinnedOrFail(spec);
    if (!ctx.offline) return { kind, version: spec.redis.version, sha256, url, origin: `${url} (sha256 ${sha256.slice(0, 12)}…, downloaded on the machine)` };
    const dest = path.join(cacheDir(ctx.home, 'redis'), `${sha256}-${path.basename(new URL(url).pathname)}`);
    if (!existsSync(dest) || (await sha256File(dest)) !== sha256) {
      ctx.log(`downloading ${url} on the host`);
      await downloadVerified(url, sha256, dest);
    }
    return { kind, version: spec.redis.version, sha256, url, file: dest, origin: `${url} (sha256 ${sha256.slice(0, 12)}…)` };
  }
  return distroSource(ctx);
}

function pinnedOrFail(spec: LabSpec): { url: string; sha256: string } {
  const s = spec.redis.source;
  if (s.kind === 'url' && s.url) return s;
  const pinned = PINNED_REDIS_RELEASES[spec.redis.version];
  if (pinned) return pinned;
  throw new OperationError(`no pinned download for Redis ${spec.redis.version}: give redis.source {url, sha256} in ${spec.file}`);
}

async function localTarball(file: string, expected: string | undefined, version: string): Promise<ResolvedSource> {
  if (!existsSync(file)) throw new OperationError(`the Redis tarball ${file} does not exist (redis.source.tarball or --redis-tarball)`);
  const sha256 = await sha256File(file);
  if (expected && expected !== sha256) {
    throw new OperationError(`sha256 mismatch for ${file}: expected ${expected}, got ${sha256}; refusing to build from it`);
  }
  return { kind: 'tarball', version, sha256, file, origin: `local tarball ${file}${expected ? ' (sha256 verified)' : ''}` };
}

async function distroSource(ctx: SourceContext): Promise<ResolvedSource> {
  const t = await ctx.fetcher();
  try {
    const entries = await aptEntriesOn(t);
    if (entries.length === 0) throw new OperationError(`${t.machine}: no apt package sources found in /etc/apt: the distro source needs a Debian or Ubuntu system`);
    const base = ctx.offline ? cacheDir(ctx.home, 'apt') : '/var/tmp/labctl-apt';
    const aptDir = path.posix.join(base, 'state');
    const srcDir = path.posix.join(base, 'src');
    await t.run(`mkdir -p ${shq(aptDir)} ${shq(srcDir)}`);
    await t.writeFile(path.posix.join(aptDir, 'sources.list'), renderTemplate('apt/sources.list', { entries: debSrcLines(entries) }, (v) => v));
    ctx.log(`${t.machine}: apt-get source --download-only redis (private apt configuration in ${base})`);
    const script = readFileSync(templatePath('redis/fetch-distro-source.sh'), 'utf8');
    const out = await t.run(`sh -s -- ${shq(aptDir)} ${shq(srcDir)} redis`, { stdin: script, timeoutMs: 300_000 });
    const [file, sha256, dscName] = out.trim().split('\n').pop()!.split(' ');
    const upstream = /^redis_(.+)\.orig\.tar\.gz$/.exec(path.basename(file ?? ''))?.[1];
    if (!file || !sha256 || !upstream) throw new OperationError(`could not read the result of apt-get source: ${out.trim().split('\n').pop()}`);
    if (upstream !== ctx.spec.redis.version) {
      throw new OperationError(
        `the distribution's source package is Redis ${upstream} but ${ctx.spec.file} asks for ${ctx.spec.redis.version}: set redis.version: ${upstream}, or redis.source to url or a tarball`,
      );
    }
    return {
      kind: 'distro',
      version: upstream,
      sha256,
      file: ctx.offline ? file : undefined,
      url: ctx.offline ? undefined : `file://${file}`,
      origin: `distribution source package ${dscName} (${path.basename(file)}, sha256 ${sha256.slice(0, 12)}…)`,
    };
  } finally {
    await t.close();
  }
}

/** The apt sources of the machine the transport reaches (host or guest alike). */
async function aptEntriesOn(t: Transport): Promise<AptEntry[]> {
  const out = await t.run(
    'for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && { echo "==> $f"; cat "$f"; echo; }; done; true',
  );
  const entries: AptEntry[] = [];
  for (const chunk of out.split(/^==> /m).slice(1)) {
    const nl = chunk.indexOf('\n');
    const name = chunk.slice(0, nl);
    const body = chunk.slice(nl + 1);
    entries.push(...(name.endsWith('.sources') ? parseDeb822(body) : parseOneLine(body)));
  }
  return entries;
}
