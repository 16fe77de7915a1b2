import { readFileSync } from 'node:fs';
import type { StepContext } from '../../engine/step.js';
import type { MachineAccess } from '../../providers/provider.js';
import { shq, type Transport } from '../../transports/transport.js';
import { buildKey, keyFields, parseMachineFacts, type BuildKeyFields } from '../../buildcache/key.js';
import { BuildCache, type CacheEntryInfo } from '../../buildcache/store.js';
import { errorMessage } from '../../util/errors.js';
import { asRoot, putFile, runScript, uploadFile } from '../script.js';
import type { redisPaths } from './paths.js';
import type { ResolvedSource } from './source.js';

type Paths = ReturnType<typeof redisPaths>;

/** What the build step will do, decided before it starts (its title says it). */
export type BuildPlan =
  | { from: 'cache'; key: string; fields: BuildKeyFields; entry: CacheEntryInfo }
  | { from: 'source'; key?: string; fields?: BuildKeyFields; why: string };

/** The key of this build on this machine: its source, and what `build-cache.sh facts` says of it. */
export async function machineKey(t: Transport, access: MachineAccess, source: ResolvedSource): Promise<BuildKeyFields | { missing: string }> {
  const r = await runScript(t, access, 'redis/build-cache.sh', ['facts']);
  if (r.code !== 0) return { missing: `build-cache.sh facts failed: ${r.stderr.trim().split('\n').pop()}` };
  const facts = parseMachineFacts(r.stdout);
  return 'missing' in facts ? facts : keyFields(facts, source.version, source.sha256);
}

/** Cache or compile, and why: the cache is off, unusable, has the key, or has not yet. */
export async function planBuild(t: Transport, access: MachineAccess, cache: BuildCache | undefined, source: ResolvedSource): Promise<BuildPlan> {
  if (!cache) return { from: 'source', why: 'the build cache is off (--no-cache)' };
  const unsafe = cache.unsafe();
  if (unsafe) return { from: 'source', why: `the build cache is not used: ${unsafe}` };
  const fields = await machineKey(t, access, source);
  if ('missing' in fields) return { from: 'source', why: `no build cache key: ${fields.missing}` };
  const key = buildKey(fields);
  const entry = cache.lookup(key);
  return entry ? { from: 'cache', key, fields, entry } : { from: 'source', key, fields, why: `kept in the build cache afterwards as ${key.slice(0, 12)}` };
}

/**
 * Installs a cached build: its files checked on the host against entry.json's digests, uploaded
 * over SFTP, unpacked and checked file by file against the manifest on the machine, then put
 * under the prefix in one rename. A damaged entry is removed (a build from source replaces it);
 * the reason comes back so the step can say it. Nothing is half-installed either way.
 */
export async function installFromCache(
  t: Transport,
  access: MachineAccess,
  cache: BuildCache,
  plan: Extract<BuildPlan, { from: 'cache' }>,
  paths: Paths,
  marker: string,
  ctx: StepContext,
): Promise<{ ok: true } | { ok: false; damaged: boolean; why: string }> {
  const short = plan.key.slice(0, 12);
  ctx.progress(`from cache ${short}: checking its files`);
  const bad = await cache.verify(plan.key);
  if (bad) {
    forget(cache, plan.key);
    return { ok: false, damaged: true, why: bad };
  }
  ctx.progress(`from cache ${short}: uploading ${(plan.entry.archive.bytes / 1e6).toFixed(1)} MB`);
  try {
    await t.run(asRoot(access, `mkdir -p ${shq(paths.work)}`));
    await uploadFile(t, access, cache.archivePath(plan.key), paths.cacheArchive, 0o600);
    await putFile(t, access, paths.cacheManifest, readFileSync(cache.manifestPath(plan.key)), 0o600);
  } catch (err) {
    // pruned meanwhile (labctl cache prune), or the machine's disk is full: compile instead
    return { ok: false, damaged: false, why: `upload failed: ${errorMessage(err)}` };
  }
  ctx.progress(`from cache ${short}: unpacking, checking ${plan.entry.manifest.files} files against the manifest`);
  const r = await runScript(t, access, 'redis/build-cache.sh', ['install', paths.cacheArchive, paths.cacheManifest, paths.work, paths.prefix, paths.confOrig, paths.buildLog, marker], {
    timeoutMs: 600_000,
  });
  if (r.code === 0) {
    try {
      cache.touch(plan.key);
    } catch {
      // Redis is installed: a last-used time that could not be written only makes prune see it older
    }
    return { ok: true };
  }
  const why = r.stderr.trim().split('\n').slice(-2).join(' / ') || `exit ${r.code}`;
  // 3 and 4: what the entry holds is not what was packed; anything else is this machine's trouble
  const damaged = r.code === 3 || r.code === 4;
  if (damaged) forget(cache, plan.key);
  return { ok: false, damaged, why };
}

/** Removes a damaged entry, so the build from source that follows can keep a good one. */
function forget(cache: BuildCache, key: string): void {
  try {
    cache.remove(key);
  } catch {
    /* left in place: it is checked, and refused, again next time */
  }
}

/**
 * Keeps a fresh build for the next lab: packed on the machine (prefix and redis.conf.orig, with
 * its manifest), brought to the host, stored under its key. The cache only saves time, so a
 * failure here is said and the deploy goes on.
 */
export async function fillCache(
  t: Transport,
  access: MachineAccess,
  cache: BuildCache,
  fields: BuildKeyFields,
  paths: Paths,
  about: { origin: string; builtBy: string },
  ctx: StepContext,
): Promise<string> {
  const short = buildKey(fields).slice(0, 12);
  try {
    ctx.progress(`keeping the build in the cache as ${short}`);
    const r = await runScript(t, access, 'redis/build-cache.sh', ['pack', paths.prefix, paths.confOrig, paths.cachePack], { timeoutMs: 600_000 });
    if (r.code !== 0) return `not kept in the build cache: packing failed: ${r.stderr.trim().split('\n').pop()}`;
    const [archive, manifest] = [await t.readFile(`${paths.cachePack}/redis.tar.gz`), await t.readFile(`${paths.cachePack}/manifest`)];
    const stored = cache.put(fields, archive, manifest, about);
    return stored ? `kept in the build cache as ${short} (${(archive.length / 1e6).toFixed(1)} MB)` : `the build cache already has ${short}`;
  } catch (err) {
    return `not kept in the build cache: ${errorMessage(err)}`;
  } finally {
    await t.exec(asRoot(access, `rm -rf ${shq(paths.cachePack)}`)).catch(() => undefined);
  }
}
