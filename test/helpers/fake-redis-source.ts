/**
 * Tiny source tarballs shaped like Redis's (a top folder with a Makefile and redis.conf),
 * for the deploy failure paths: they fail in a chosen place without a minute of compiling.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type FakeSourceKind = 'build-fails' | 'server-fails';

const MAKEFILES: Record<FakeSourceKind, string> = {
  'build-fails': [
    'all:',
    '\t@for i in $$(seq 1 40); do echo "    CC fake$$i.o"; done',
    '\t@echo "fake.c:12:5: error: labctl-test-build-error"; exit 1',
    'install:',
    '\t@exit 1',
    '',
  ].join('\n'),
  // builds, installs a redis-server that writes a fatal line to its configured log and exits 1
  'server-fails': [
    'all:',
    '\t@echo "    CC fake.o"',
    'install:',
    '\tmkdir -p $(PREFIX)/bin',
    '\tprintf \'#!/bin/sh\\nlog=$$(sed -n "s/^logfile //p" "$$1")\\necho "# FATAL labctl-test-server-error" >> "$$log"\\nexit 1\\n\' > $(PREFIX)/bin/redis-server',
    '\tchmod 755 $(PREFIX)/bin/redis-server',
    '',
  ].join('\n'),
};

/** Writes a .tar.gz of a fake Redis tree into `dir` and returns its path. */
export function fakeRedisTarball(dir: string, kind: FakeSourceKind): string {
  const work = mkdtempSync(path.join(os.tmpdir(), 'labctl-fake-src-'));
  try {
    const top = path.join(work, 'redis-7.0.15');
    mkdirSync(top);
    writeFileSync(path.join(top, 'Makefile'), MAKEFILES[kind]);
    writeFileSync(path.join(top, 'redis.conf'), '# fake redis.conf\nport 6379\n');
    const out = path.join(dir, `fake-redis-${kind}.tar.gz`);
    execFileSync('tar', ['-czf', out, '-C', work, 'redis-7.0.15']);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A file named like a tarball that is not one. */
export function corruptTarball(dir: string): string {
  const out = path.join(dir, 'corrupt-redis.tar.gz');
  writeFileSync(out, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(4096, 0x5a)]));
  return out;
}

/**
 * A source tarball whose "build" installs this host's own redis-server and redis-cli (Debian's
 * redis-server package, 7.0.15 like the seed's version) under the prefix: for tests of what
 * happens around a running Redis (stop, start, checkpoints, logs) that need a real Redis but
 * not a minute of compiling. The role treats it as any source: uploaded, sha256-checked,
 * "built", installed under its prefix, configured and started; verify sees version 7.0.15 and
 * an executable under the lab's prefix. scaleout.test.ts is the test of the real build.
 */
export function prebuiltRedisTarball(dir: string): string {
  const work = mkdtempSync(path.join(os.tmpdir(), 'labctl-prebuilt-src-'));
  try {
    const top = path.join(work, 'redis-7.0.15');
    mkdirSync(top);
    writeFileSync(
      path.join(top, 'Makefile'),
      [
        'all:',
        '\t@echo "    CC host redis-server (prebuilt: /usr/bin/redis-server)"',
        'install:',
        '\tmkdir -p $(PREFIX)/bin',
        '\tcp -L /usr/bin/redis-server $(PREFIX)/bin/redis-server',
        '\tcp -L /usr/bin/redis-cli $(PREFIX)/bin/redis-cli',
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(top, 'redis.conf'), '# redis.conf of the prebuilt test source\nport 6379\n');
    const out = path.join(dir, 'prebuilt-redis-7.0.15.tar.gz');
    execFileSync('tar', ['-czf', out, '-C', work, 'redis-7.0.15']);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
