/**
 * The Redis build cache on a real netns lab (issue 13, part 3), 198.18.150.0/24, through the
 * real CLI: the first up compiles and fills the cache; teardown + up installs from it (no
 * compile: the build log and the step lines say so) and the lab verifies; a byte flipped in the
 * cached archive is found on the host, said, the entry removed and Redis compiled again (and
 * kept again); an archive whose digest was made to match but whose files differ from the
 * manifest is found by the machine's file-by-file check, likewise; --no-cache compiles and
 * leaves the cache alone; cache ls and prune.
 *
 * Redis comes from the "prebuilt" source tarball (test/helpers/fake-redis-source.ts): a real
 * source-shaped tarball whose make prints one "CC" line and whose make install copies the host's
 * redis-server, so "compiled" is told apart from "from the cache" in seconds. Root only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeResult, type CliResult } from '../helpers/cli.js';
import { prebuiltRedisTarball } from '../helpers/fake-redis-source.js';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { sha256, sha256File } from '../../src/util/hash.js';

const json = (r: CliResult) => JSON.parse(r.stdout) as any;
const LIGHT = ['--clients', '1', '--messages', '5'];
// the cache under the test's own home, whatever the environment says
const ENV = { LABCTL_CACHE: '' };

describe('the Redis build cache on a netns lab: fill, install from it, damage found and rebuilt, --no-cache, ls and prune', { timeout: 600_000 }, () => {
  let lab: LabFixture;
  let sources: string;
  let tarballSha: string;
  const builds = () => path.join(lab.home, 'cache/redis/builds');
  const buildLog = () => readFileSync(path.join(lab.dir, 'machines/redis/var/log/labctl/redis-build.log'), 'utf8');
  const buildStep = () => lab.readState().steps['redis:redis:build'];
  const cli = async (args: string[], code = 0) => {
    const r = await lab.cli(args, { env: ENV, timeoutMs: 180_000 });
    assert.equal(r.code, code, describeResult(r));
    return r;
  };
  const entries = async () => json(await cli(['cache', 'ls', '--json'])).entries as any[];
  /** teardown, then up: the "every day" cycle the cache is for */
  const again = async (args: string[] = []) => {
    await cli(['teardown', '--yes']);
    assert.deepEqual(lab.leftovers(), []);
    const r = await cli(['up', ...LIGHT, ...args]);
    lab.rememberNamespaces();
    assert.match(r.stdout, /all \d+ checks passed/);
    return r;
  };
  const compiled = () => /^\s+CC host redis-server/m.test(buildLog());

  before(async () => {
    sources = mkdtempSync(path.join(os.tmpdir(), 'labctl-cache-src-'));
    const tarball = prebuiltRedisTarball(sources);
    tarballSha = await sha256File(tarball);
    lab = await createLabFixture({ subnet: '198.18.150.0/24', prefix: 'bc', patchSpec: (spec) => (spec.redis.source = { tarball }) });
  });

  after(async () => {
    const forced = lab ? await lab.cleanup() : [];
    if (sources) rmSync(sources, { recursive: true, force: true });
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  test('the first up compiles and keeps the build: key fields of this machine, archive + manifest + entry.json, private modes', async () => {
    const r = await cli(['up', ...LIGHT]);
    lab.rememberNamespaces();
    assert.match(r.stdout, /all \d+ checks passed/);
    assert.match(r.stderr, /✓ redis: build Redis 7\.0\.15 from source into \S+ \(compiling; kept in the build cache afterwards as [0-9a-f]{12}\)/);
    assert.ok(compiled(), 'the build log has the compile line');
    assert.equal(buildStep().info.from, 'source');
    assert.match(buildStep().info.cache, /^kept in the build cache as [0-9a-f]{12} \(\d+\.\d MB\)$/);

    const [e, ...rest] = await entries();
    assert.deepEqual(rest, []);
    const cc = execFileSync('sh', ['-c', 'cc --version | head -n 1'], { encoding: 'utf8' }).trim();
    const osId = /^ID=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))![1]!.replace(/"/g, '');
    assert.deepEqual([e.redisVersion, e.sourceSha256, e.arch, e.compiler, e.recipe], ['7.0.15', tarballSha, os.machine(), cc, 1]);
    assert.ok(e.distribution.startsWith(osId), e.distribution);
    assert.equal(e.builtBy, `${lab.name}/redis`);
    assert.equal(e.key, buildStep().info.cacheKey);
    assert.deepEqual(readdirSync(path.join(builds(), e.key)).sort(), ['entry.json', 'manifest', 'redis.tar.gz']);
    assert.equal(statSync(builds()).mode & 0o777, 0o700);
    for (const f of readdirSync(path.join(builds(), e.key))) assert.equal(statSync(path.join(builds(), e.key, f)).mode & 0o777, 0o600, f);
    const manifest = readFileSync(path.join(builds(), e.key, 'manifest'), 'utf8');
    assert.match(manifest, /^[0-9a-f]{64} 755 \.\/prefix\/bin\/redis-server$/m);
    assert.match(manifest, / \.\/redis\.conf\.orig$/m);

    const text = await cli(['cache', 'ls']);
    assert.match(text.stdout, new RegExp(`^${e.key.slice(0, 12)}\\s+7\\.0\\.15\\s+sha256 ${tarballSha.slice(0, 12)}…\\s+${os.machine()}\\s`, 'm'));
  });

  test('teardown + up installs from the cache: no compile (build log, step line, journal), Redis verified', async (t) => {
    const [before] = await entries();
    const t0 = Date.now();
    const r = await again();
    t.diagnostic(`teardown + up from the cache: ${((Date.now() - t0) / 1000).toFixed(1)} s (${r.stdout.match(/^phases: .*$/m)?.[0]})`);
    assert.match(r.stderr, new RegExp(`✓ redis: install Redis 7\\.0\\.15 into \\S+ from the build cache \\(${before.key.slice(0, 12)}, no compile\\)`));
    assert.doesNotMatch(r.stderr, /build Redis 7\.0\.15 from source/);
    assert.match(buildLog(), /^labctl: installing from the build cache .*nothing compiled$/m);
    assert.equal(compiled(), false, `no compile line in the build log:\n${buildLog()}`);
    assert.deepEqual([buildStep().info.from, buildStep().info.cacheKey], ['cache', before.key]);
    const marker = JSON.parse(readFileSync(path.join(lab.dir, 'machines/redis/opt/redis/7.0.15/.labctl-build.json'), 'utf8'));
    assert.deepEqual([marker.fromCache, marker.sha256], [before.key, tarballSha]);
    const [after] = await entries();
    assert.equal(after.created, before.created);
    assert.ok(Date.parse(after.lastUsed) > Date.parse(before.lastUsed), 'the use is recorded');
  });

  test('a byte flipped in the cached archive: found on the host, said, removed, compiled again and kept again', async () => {
    const [e] = await entries();
    const archive = path.join(builds(), e.key, 'redis.tar.gz');
    const bytes = readFileSync(archive);
    bytes[bytes.length >> 1] ^= 0x01;
    writeFileSync(archive, bytes);
    const r = await again();
    assert.match(
      r.stderr,
      new RegExp(`✓ redis: build Redis 7\\.0\\.15 from source into \\S+ \\(compiling; build cache entry ${e.key.slice(0, 12)} was damaged \\(redis\\.tar\\.gz has sha256 \\w+…, entry\\.json says \\w+…\\): removed, compiling instead\\)`),
    );
    assert.ok(compiled(), 'compiled from source');
    assert.equal(buildStep().info.from, 'source');
    assert.match(buildStep().info.cache, /^kept in the build cache as /);
    const [kept] = await entries();
    assert.equal(kept.key, e.key, 'the same key, built again');
    assert.ok(Date.parse(kept.created) > Date.parse(e.created), 'a new entry');
    assert.equal(await sha256File(path.join(builds(), e.key, 'redis.tar.gz')), JSON.parse(readFileSync(path.join(builds(), e.key, 'entry.json'), 'utf8')).archive.sha256);
  });

  test("an archive whose digest matches entry.json but whose files differ from the manifest: found by the machine's check, nothing half-installed, compiled again", async () => {
    const [e] = await entries();
    const dir = path.join(builds(), e.key);
    const tree = mkdtempSync(path.join(sources, 'tree-'));
    execFileSync('tar', ['-xzf', path.join(dir, 'redis.tar.gz'), '-C', tree]);
    writeFileSync(path.join(tree, 'redis.conf.orig'), '# not what was packed\n');
    execFileSync('tar', ['-czf', path.join(dir, 'redis.tar.gz'), '-C', tree, '.']);
    const entryFile = path.join(dir, 'entry.json');
    const info = JSON.parse(readFileSync(entryFile, 'utf8'));
    const archive = readFileSync(path.join(dir, 'redis.tar.gz'));
    writeFileSync(entryFile, JSON.stringify({ ...info, archive: { sha256: sha256(archive), bytes: archive.length } }));
    const r = await again();
    assert.match(r.stderr, new RegExp(`build cache entry ${e.key.slice(0, 12)} was damaged \\(the unpacked files differ from the cache's manifest: [<>] .*redis\\.conf\\.orig`));
    assert.ok(compiled(), 'compiled from source');
    const prefixes = readdirSync(path.join(lab.dir, 'machines/redis/opt/redis'));
    assert.deepEqual(prefixes, ['7.0.15'], 'no .new or .old left');
    assert.deepEqual(readdirSync(path.join(lab.dir, 'machines/redis/var/lib/labctl/redis-build')), [], 'the upload and the unpacked tree are gone');
    assert.equal((await entries()).length, 1, 'kept again');
  });

  test('--no-cache compiles even though the cache has the build, and leaves the cache as it was', async () => {
    const [before] = await entries();
    const r = await again(['--no-cache']);
    assert.match(r.stderr, /✓ redis: build Redis 7\.0\.15 from source into \S+ \(compiling; the build cache is off \(--no-cache\)\)/);
    assert.ok(compiled(), 'compiled from source');
    assert.equal(buildStep().info.cache, 'the build cache is off (--no-cache)');
    assert.deepEqual(await entries(), [before], 'neither used nor filled');
  });

  test('cache prune: --older-than keeps what was used since, --all removes it; the next up compiles and keeps it again', async () => {
    const [e] = await entries();
    const kept = json(await cli(['cache', 'prune', '--older-than', '30d', '--json']));
    assert.deepEqual([kept.removed, kept.kept], [[], 1]);
    const all = await cli(['cache', 'prune', '--all']);
    assert.match(all.stdout, new RegExp(`^removed 1 entry \\(\\d+\\.\\d MB\\), kept 0:\\n  ${e.key.slice(0, 12)}  Redis 7\\.0\\.15, last used `));
    assert.deepEqual(readdirSync(builds()), []);
    assert.match((await cli(['cache', 'ls'])).stdout, /^the build cache is empty/);
    await again();
    assert.ok(compiled(), 'a miss compiles');
    assert.deepEqual((await entries()).map((x) => x.key), [e.key]);
    await cli(['teardown', '--yes']);
    assert.deepEqual(lab.leftovers(), []);
  });
});
