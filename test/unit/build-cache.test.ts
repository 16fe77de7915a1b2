/**
 * The Redis build cache (issue 13, part 3) without a lab: the key and what goes into it, the
 * host's store (an entry appears whole, is checked against its digests, a damaged one is
 * found), the machine's side (templates/redis/build-cache.sh run here on temporary folders:
 * pack, then install checked file by file against the manifest), which entries prune selects,
 * and `labctl cache ls|prune` with their bad command lines (exit 2, one line, nothing made).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { BUILD_RECIPE, buildKey, keyFields, parseMachineFacts, type BuildKeyFields } from '../../src/buildcache/key.js';
import { parseAge, selectPrune } from '../../src/buildcache/prune.js';
import { BuildCache, buildsDir, type ListedEntry } from '../../src/buildcache/store.js';
import { UsageError } from '../../src/util/errors.js';
import { planBuild } from '../../src/roles/redis/cached-build.js';
import { hasStackTrace, runCli } from '../helpers/cli.js';

const SCRIPT = path.resolve(import.meta.dirname, '../../templates/redis/build-cache.sh');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-build-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => {
  const dir = path.join(tmp, `${name}-${++n}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

const FACTS = [
  'arch x86_64',
  'compiler cc (Debian 12.2.0-14) 12.2.0',
  'os-release PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
  'os-release NAME="Debian GNU/Linux"',
  'os-release VERSION_ID="12"',
  'os-release VERSION_CODENAME=bookworm',
  'os-release ID=debian',
  '',
].join('\n');
const SHA = 'a'.repeat(64);
const fields = (over: Partial<BuildKeyFields> = {}): BuildKeyFields => ({
  recipe: BUILD_RECIPE,
  redisVersion: '7.0.15',
  sourceSha256: SHA,
  arch: 'x86_64',
  distribution: 'debian 12 (bookworm)',
  compiler: 'cc (Debian 12.2.0-14) 12.2.0',
  ...over,
});

describe('the key', () => {
  test("the machine's facts: architecture, distribution from os-release (quoted or not), the compiler's first line", () => {
    const facts = parseMachineFacts(FACTS);
    assert.deepEqual(facts, { arch: 'x86_64', distribution: 'debian 12 (bookworm)', compiler: 'cc (Debian 12.2.0-14) 12.2.0' });
    assert.deepEqual(keyFields(facts as any, '7.0.15', SHA), fields());
    const ubuntu = parseMachineFacts("arch aarch64\ncompiler cc (Ubuntu 13.2.0-23ubuntu4) 13.2.0\nos-release ID=ubuntu\nos-release VERSION_ID='24.04'\n");
    assert.deepEqual(ubuntu, { arch: 'aarch64', distribution: 'ubuntu 24.04', compiler: 'cc (Ubuntu 13.2.0-23ubuntu4) 13.2.0' });
  });

  test('a machine without a compiler, an architecture or an os-release gives no key', () => {
    assert.match((parseMachineFacts(FACTS.replace(/^compiler .*$/m, 'compiler ')) as any).missing, /no C compiler/);
    assert.match((parseMachineFacts(FACTS.replace(/^arch .*$/m, '')) as any).missing, /architecture/);
    assert.match((parseMachineFacts('arch x86_64\ncompiler cc 1\n') as any).missing, /os-release/);
  });

  test('same fields, same key (whatever their order); each field changes it', () => {
    const base = buildKey(fields());
    assert.match(base, /^[0-9a-f]{64}$/);
    const reordered = Object.fromEntries(Object.entries(fields()).reverse()) as unknown as BuildKeyFields;
    assert.equal(buildKey(reordered), base);
    const changes: Partial<BuildKeyFields>[] = [
      { recipe: BUILD_RECIPE + 1 },
      { redisVersion: '7.2.4' },
      { sourceSha256: 'b'.repeat(64) },
      { arch: 'aarch64' },
      { distribution: 'debian 13 (trixie)' },
      { compiler: 'cc (Debian 14.2.0-19) 14.2.0' },
    ];
    const keys = changes.map((c) => buildKey(fields(c)));
    assert.equal(new Set([base, ...keys]).size, changes.length + 1, 'every field is part of the key');
  });
});

describe('the store on the host', () => {
  const archive = Buffer.from('archive bytes '.repeat(100));
  const manifest = Buffer.from('x 755 ./prefix/bin/redis-server\nlink redis-server ./prefix/bin/redis-check-aof\n');

  test('put → lookup → verify; its folder and files are this user\'s alone; a second put of the key keeps the first', async () => {
    const cache = new BuildCache(path.join(fresh('store'), 'builds'));
    assert.equal(cache.put(fields(), archive, manifest, { origin: 'test', builtBy: 'lab/redis' }), true);
    const key = buildKey(fields());
    const info = cache.lookup(key)!;
    assert.equal(info.key, key);
    assert.deepEqual(info.fields, fields());
    assert.equal(info.manifest.files, 2);
    assert.equal(info.archive.bytes, archive.length);
    assert.equal(await cache.verify(key), undefined);
    assert.equal(statSync(cache.dir).mode & 0o777, 0o700);
    for (const f of readdirSync(cache.entryDir(key))) assert.equal(statSync(path.join(cache.entryDir(key), f)).mode & 0o777, 0o600, f);
    assert.equal(cache.put(fields(), Buffer.from('other'), manifest), false);
    assert.deepEqual(readFileSync(cache.archivePath(key)), archive);
    assert.deepEqual(readdirSync(cache.dir), [key], 'no temporary folder is left');
  });

  test('a flipped byte in the archive, a changed manifest, an entry.json of another key: each is found', async () => {
    const cache = new BuildCache(path.join(fresh('store'), 'builds'));
    cache.put(fields(), archive, manifest);
    const key = buildKey(fields());
    const bytes = readFileSync(cache.archivePath(key));
    bytes[bytes.length >> 1] ^= 0x01;
    writeFileSync(cache.archivePath(key), bytes);
    assert.match((await cache.verify(key))!, /^redis\.tar\.gz has sha256 \w+…, entry\.json says \w+…$/);
    writeFileSync(cache.archivePath(key), archive);
    writeFileSync(cache.manifestPath(key), manifest.toString() + 'extra\n');
    assert.match((await cache.verify(key))!, /^manifest has sha256/);

    const other = buildKey(fields({ arch: 'aarch64' }));
    cache.put(fields({ arch: 'aarch64' }), archive, manifest);
    rmSync(cache.entryDir(key), { recursive: true });
    execFileSync('mv', [cache.entryDir(other), cache.entryDir(key)]);
    assert.equal(await cache.verify(key), 'its entry.json describes another key');
    cache.remove(key);
    assert.equal(existsSync(cache.entryDir(key)), false);
    assert.equal(await cache.verify(key), 'no readable entry.json');
  });

  test('a cache folder others can write to, or a symbolic link, is not used', () => {
    const base = fresh('unsafe');
    const cache = new BuildCache(path.join(base, 'builds'));
    assert.equal(cache.unsafe(), undefined, 'not there yet: it will be made 0700');
    mkdirSync(cache.dir);
    chmodSync(cache.dir, 0o777);
    assert.match(cache.unsafe()!, /can be written by others \(mode 777\)/);
    const link = new BuildCache(path.join(base, 'link'));
    symlinkSync(cache.dir, link.dir);
    assert.match(link.unsafe()!, /is a symbolic link/);
  });

  test('the build step compiles, saying why, when the cache is off or its folder is unsafe (before asking the machine anything)', async () => {
    const source = { kind: 'tarball' as const, version: '7.0.15', sha256: SHA, origin: 'test' };
    const noMachine = new Proxy({}, { get: () => assert.fail('the machine is not asked') }) as any;
    assert.deepEqual(await planBuild(noMachine, noMachine, undefined, source), { from: 'source', why: 'the build cache is off (--no-cache)' });
    const cache = new BuildCache(path.join(fresh('unsafe'), 'builds'));
    mkdirSync(cache.dir, { mode: 0o700 });
    chmodSync(cache.dir, 0o757);
    const plan = await planBuild(noMachine, noMachine, cache, source);
    assert.equal(plan.from, 'source');
    assert.match((plan as any).why, /^the build cache is not used: .* can be written by others \(mode 757\)$/);
  });

  test('list: newest use first, sizes, an entry without entry.json listed with its problem; touch records a use', () => {
    const cache = new BuildCache(path.join(fresh('list'), 'builds'));
    cache.put(fields(), archive, manifest);
    cache.put(fields({ arch: 'aarch64' }), archive, manifest);
    mkdirSync(path.join(cache.dir, 'f'.repeat(64)));
    writeFileSync(path.join(cache.dir, 'f'.repeat(64), 'redis.tar.gz'), 'x');
    const a = buildKey(fields());
    const entryFile = path.join(cache.entryDir(a), 'entry.json');
    const old = { ...JSON.parse(readFileSync(entryFile, 'utf8')), lastUsed: '2020-01-01T00:00:00.000Z' };
    writeFileSync(entryFile, JSON.stringify(old));
    const listed = cache.list();
    assert.equal(listed.length, 3);
    assert.equal(listed.at(-1)!.key, a, 'the least recently used last');
    assert.ok(listed.find((e) => e.key === a)!.bytes > archive.length);
    assert.equal(listed.find((e) => e.key === 'f'.repeat(64))!.problem, 'no readable entry.json');
    cache.touch(a);
    assert.ok(Date.now() - cache.list().find((e) => e.key === a)!.lastUsedMs < 60_000);
  });
});

describe("the machine's side: build-cache.sh pack and install, checked against the manifest", () => {
  /** A stand-in for an installed Redis: what make install leaves, links included. */
  const fakeInstall = (root: string) => {
    const prefix = path.join(root, 'opt/redis/7.0.15');
    mkdirSync(path.join(prefix, 'bin'), { recursive: true });
    writeFileSync(path.join(prefix, 'bin/redis-server'), '#!/bin/sh\necho server\n', { mode: 0o755 });
    writeFileSync(path.join(prefix, 'bin/redis-cli'), '#!/bin/sh\necho cli\n', { mode: 0o755 });
    symlinkSync('redis-server', path.join(prefix, 'bin/redis-check-aof'));
    writeFileSync(path.join(prefix, '.labctl-build.json'), '{"version":"7.0.15"}\n');
    mkdirSync(path.join(root, 'etc/redis'), { recursive: true });
    writeFileSync(path.join(root, 'etc/redis/redis.conf.orig'), '# the source redis.conf\n');
    return prefix;
  };
  const sh = (...args: string[]) => spawnSync('sh', [SCRIPT, ...args], { encoding: 'utf8' });
  const packed = () => {
    const from = fresh('machine-a');
    const prefix = fakeInstall(from);
    const out = path.join(from, 'pack');
    const r = sh('pack', prefix, path.join(from, 'etc/redis/redis.conf.orig'), out);
    assert.equal(r.status, 0, r.stderr);
    return { out, archive: path.join(out, 'redis.tar.gz'), manifest: path.join(out, 'manifest') };
  };
  const target = () => {
    const root = fresh('machine-b');
    return {
      root,
      work: path.join(root, 'var/lib/labctl/redis-build'),
      prefix: path.join(root, 'opt/redis/7.0.15'),
      conf: path.join(root, 'etc/redis/redis.conf.orig'),
      log: path.join(root, 'var/log/labctl/redis-build.log'),
    };
  };
  const install = (t: ReturnType<typeof target>, archive: string, manifest: string) => sh('install', archive, manifest, t.work, t.prefix, t.conf, t.log, '{"fromCache":"k"}');
  const copy = (file: string, dir: string) => {
    const to = path.join(dir, path.basename(file));
    writeFileSync(to, readFileSync(file));
    return to;
  };

  test('pack: a manifest line per file (sha256 and mode), per link (its target); the marker is left out', () => {
    const p = packed();
    const lines = readFileSync(p.manifest, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(' ').slice(-1)[0]), ['./prefix/bin/redis-check-aof', './prefix/bin/redis-cli', './prefix/bin/redis-server', './redis.conf.orig']);
    assert.equal(lines[0], 'link redis-server ./prefix/bin/redis-check-aof');
    assert.match(lines[2]!, /^[0-9a-f]{64} 755 \.\/prefix\/bin\/redis-server$/);
    assert.doesNotMatch(readFileSync(p.manifest, 'utf8'), /labctl-build/);
    assert.equal(existsSync(path.join(p.out, 'stage')), false, 'the staging copy is gone');
  });

  test('install: unpacked, checked, renamed into place with its marker and redis.conf.orig; the log says nothing was compiled', () => {
    const p = packed();
    const t = target();
    const r = install(t, copy(p.archive, fresh('upload')), copy(p.manifest, fresh('upload')));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(path.join(t.prefix, 'bin/redis-server'), 'utf8'), '#!/bin/sh\necho server\n');
    assert.equal(statSync(path.join(t.prefix, 'bin/redis-server')).mode & 0o777, 0o755);
    assert.equal(readFileSync(path.join(t.prefix, '.labctl-build.json'), 'utf8'), '{"fromCache":"k"}\n');
    assert.equal(readFileSync(t.conf, 'utf8'), '# the source redis.conf\n');
    assert.match(readFileSync(t.log, 'utf8'), /^labctl: installing from the build cache .*nothing compiled\nlabctl: installed under /);
    assert.deepEqual(readdirSync(path.dirname(t.prefix)), ['7.0.15'], 'no .new or .old left');
    assert.deepEqual(readdirSync(t.work), [], 'the upload and the unpacked tree are gone');
  });

  test('install: a file that differs from the manifest (a changed byte, a swapped mode, an extra file) installs nothing (exit 3), the previous install stays', () => {
    const p = packed();
    const cases: [string, (dir: string) => void][] = [
      ['a changed byte', (d) => writeFileSync(path.join(d, 'prefix/bin/redis-cli'), '#!/bin/sh\necho CLI\n', { mode: 0o755 })],
      ['a changed mode', (d) => chmodSync(path.join(d, 'prefix/bin/redis-cli'), 0o777)],
      ['an extra file', (d) => writeFileSync(path.join(d, 'prefix/bin/extra'), 'x')],
    ];
    for (const [what, tamper] of cases) {
      const t = target();
      mkdirSync(path.join(t.prefix, 'bin'), { recursive: true });
      writeFileSync(path.join(t.prefix, 'bin/redis-server'), 'the previous install');
      const tree = fresh('tamper');
      execFileSync('tar', ['-xzf', p.archive, '-C', tree]);
      tamper(tree);
      const bad = path.join(fresh('upload'), 'redis.tar.gz');
      execFileSync('tar', ['-czf', bad, '-C', tree, '.']);
      const r = install(t, bad, copy(p.manifest, fresh('upload')));
      assert.equal(r.status, 3, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /the unpacked files differ from the cache's manifest: [<>] /, what);
      assert.equal(readFileSync(path.join(t.prefix, 'bin/redis-server'), 'utf8'), 'the previous install', what);
      assert.deepEqual(readdirSync(path.dirname(t.prefix)), ['7.0.15'], `${what}: nothing half-installed`);
      assert.equal(existsSync(path.join(t.work, 'cache-unpack')), false, what);
    }
  });

  test('install: an archive that does not unpack installs nothing (exit 4)', () => {
    const p = packed();
    const t = target();
    const bytes = readFileSync(p.archive);
    bytes[bytes.length >> 1] ^= 0xff;
    const bad = path.join(fresh('upload'), 'redis.tar.gz');
    writeFileSync(bad, bytes);
    const r = install(t, bad, copy(p.manifest, fresh('upload')));
    assert.ok(r.status === 4 || r.status === 3, `exit ${r.status}: ${r.stderr}`);
    assert.equal(existsSync(t.prefix), false);
  });
});

describe('prune selection', () => {
  const DAY = 86_400_000;
  const now = Date.parse('2026-11-29T12:00:00Z');
  const entry = (key: string, daysAgo: number, problem?: string): ListedEntry => ({ key, dir: `/c/${key}`, bytes: 1, lastUsedMs: now - daysAgo * DAY, problem });

  test('ages: a whole number and a unit', () => {
    assert.equal(parseAge('30d'), 30 * DAY);
    assert.equal(parseAge('12h'), 12 * 3_600_000);
    assert.equal(parseAge('90m'), 90 * 60_000);
    assert.equal(parseAge('2w'), 14 * DAY);
    assert.equal(parseAge('45s'), 45_000);
    for (const bad of ['', '30', 'd', '1.5d', '-1d', '30 days', '3x', '1e3d']) assert.throws(() => parseAge(bad), UsageError, bad);
  });

  test('--older-than: entries last used at least that long ago, and any that cannot be used; --all: every one', () => {
    const entries = [entry('new', 1), entry('edge', 30), entry('old', 45), entry('broken', 0, 'no readable entry.json')];
    assert.deepEqual(selectPrune(entries, { olderThanMs: 30 * DAY }, now).map((e) => e.key), ['edge', 'old', 'broken']);
    assert.deepEqual(selectPrune(entries, { olderThanMs: 60 * DAY }, now).map((e) => e.key), ['broken']);
    assert.deepEqual(selectPrune(entries, { all: true }, now).map((e) => e.key), ['new', 'edge', 'old', 'broken']);
    assert.deepEqual(selectPrune(entries, {}, now), []);
  });
});

describe('labctl cache ls | prune', () => {
  const seed = (home: string) => {
    const cache = new BuildCache(buildsDir(home));
    cache.put(fields(), Buffer.from('archive'), Buffer.from('m\n'), { origin: 'distribution source package redis_7.0.15', builtBy: 'lab/redis' });
    cache.put(fields({ redisVersion: '7.2.4' }), Buffer.from('archive 2'), Buffer.from('m\n'));
    const old = buildKey(fields({ redisVersion: '7.2.4' }));
    const file = path.join(cache.entryDir(old), 'entry.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), lastUsed: '2025-01-01T00:00:00.000Z' }));
    return { cache, recent: buildKey(fields()), old };
  };

  test('ls: each entry with its key fields, size, created and last used; --json the same', async () => {
    const home = fresh('home');
    const { recent, old } = seed(home);
    const text = await runCli(['--home', home, 'cache', 'ls']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^KEY\s+REDIS\s+SOURCE\s+ARCH\s+DISTRIBUTION\s+COMPILER\s+SIZE\s+CREATED\s+LAST USED$/m);
    assert.match(text.stdout, new RegExp(`^${recent.slice(0, 12)}\\s+7\\.0\\.15\\s+sha256 aaaaaaaaaaaa…\\s+x86_64\\s+debian 12 \\(bookworm\\)\\s+cc \\(Debian 12\\.2\\.0-14\\) 12\\.2\\.0\\s+0\\.0 MB`, 'm'));
    assert.match(text.stdout, /2025-01-01 00:00$/m);
    assert.match(text.stdout, /^2 entries, 0\.0 MB in .*cache\/redis\/builds$/m);
    const json = JSON.parse((await runCli(['--home', home, 'cache', 'ls', '--json'])).stdout);
    assert.deepEqual(json.entries.map((e: any) => e.key), [recent, old]);
    assert.deepEqual(
      [json.entries[0].redisVersion, json.entries[0].sourceSha256, json.entries[0].arch, json.entries[0].distribution, json.entries[0].compiler, json.entries[0].builtBy],
      ['7.0.15', SHA, 'x86_64', 'debian 12 (bookworm)', 'cc (Debian 12.2.0-14) 12.2.0', 'lab/redis'],
    );
    assert.ok(json.entries[0].bytes > 0 && json.entries[0].created && json.entries[1].lastUsed === '2025-01-01T00:00:00.000Z');
  });

  test('ls says when deploy would not use the cache (a folder others can write to)', async () => {
    const home = fresh('home');
    const { cache } = seed(home);
    chmodSync(cache.dir, 0o777);
    const r = await runCli(['--home', home, 'cache', 'ls']);
    assert.match(r.stdout, /^deploy does not use this cache: .* can be written by others \(mode 777\)/m);
    assert.match(JSON.parse((await runCli(['--home', home, 'cache', 'ls', '--json'])).stdout).unusable, /can be written by others/);
  });

  test('prune --older-than removes only what was not used for that long; prune --all the rest; ls of an empty cache says so', async () => {
    const home = fresh('home');
    const { cache, recent, old } = seed(home);
    const pruned = JSON.parse((await runCli(['--home', home, 'cache', 'prune', '--older-than', '30d', '--json'])).stdout);
    assert.deepEqual(pruned.removed.map((e: any) => e.key), [old]);
    assert.equal(pruned.kept, 1);
    assert.deepEqual(cache.list().map((e) => e.key), [recent]);
    const again = await runCli(['--home', home, 'cache', 'prune', '--older-than', '30d']);
    assert.match(again.stdout, /^nothing to prune \(1 entry kept in /);
    const all = await runCli(['--home', home, 'cache', 'prune', '--all']);
    assert.match(all.stdout, new RegExp(`^removed 1 entry \\(0\\.0 MB\\), kept 0:\\n  ${recent.slice(0, 12)}  Redis 7\\.0\\.15, last used `));
    assert.deepEqual(readdirSync(cache.dir), []);
    assert.match((await runCli(['--home', home, 'cache', 'ls'])).stdout, /^the build cache is empty \(/);
  });

  test('bad command lines: one line, exit 2, nothing made', async () => {
    const home = path.join(fresh('bad'), 'home');
    const lines: [string[], RegExp][] = [
      [['cache', 'frob'], /^labctl: labctl cache frob: the action is one of ls, prune$/],
      [['cache', 'prune'], /^labctl: labctl cache prune: say what to remove: --all, or --older-than AGE \(e\.g\. 30d\)$/],
      [['cache', 'prune', '--all', '--older-than', '1d'], /^labctl: labctl cache prune: give --all or --older-than, not both$/],
      [['cache', 'prune', '--older-than', '3x'], /^labctl: --older-than "3x": give a whole number and a unit/],
      [['cache', 'prune', '--older-than', ''], /^labctl: --older-than "": give a whole number/],
      [['cache', 'ls', '--all'], /^labctl: labctl cache ls takes no --all or --older-than/],
    ];
    for (const [args, expected] of lines) {
      const r = await runCli(['--home', home, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.trim(), expected, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line\n${r.stderr}`);
      assert.ok(!hasStackTrace(r.stderr));
      assert.equal(existsSync(home), false, `${args.join(' ')} made nothing`);
    }
    const missing = await runCli(['--home', home, 'cache']);
    assert.equal(missing.code, 2, missing.stderr);
  });
});
