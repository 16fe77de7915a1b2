/**
 * The web role's installers on the host (src/roles/web-windows/packages.ts): one download per
 * package, whoever asks. web1's and web2's MSI steps ask for the same package at the same time
 * (in one labctl process), and two labctl processes may share a cache (LABCTL_CACHE): each
 * package is fetched once, into one .partial file, and every caller gets the finished file.
 * The server is a local one on 127.0.0.1 that sends the file slowly; nothing else is reached.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ensurePackage, packageCacheDir, type WebPackage } from '../../src/roles/web-windows/packages.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BODY = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => i % 251));
const SHA = createHash('sha256').update(BODY).digest('hex');

let server: http.Server;
let base: string;
const served = new Map<string, number>();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'labctl-pkg-'));

before(async () => {
  server = http.createServer((req, res) => {
    served.set(req.url!, (served.get(req.url!) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BODY.length) });
    // four pieces, 150 ms apart: long enough for every other caller to ask meanwhile
    let i = 0;
    const next = () => {
      const piece = BODY.subarray((i * BODY.length) / 4, ((i + 1) * BODY.length) / 4);
      i++;
      if (i < 4) {
        res.write(piece);
        setTimeout(next, 150);
      } else res.end(piece);
    };
    next();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

const pkg = (name: string, pinned: boolean): WebPackage => ({
  id: 'iisnode',
  title: name,
  url: `${base}/${name}`,
  ...(pinned ? { sha256: SHA } : {}),
  file: name,
  check: 'C:\\Program Files\\iisnode\\iisnode.dll',
  properties: [],
});

describe('installer downloads on the host', () => {
  test('web1 and web2 asking for one package at once: one request, both get the finished file (pinned and unpinned)', async () => {
    for (const pinned of [true, false]) {
      const home = path.join(tmp, `home-${pinned}`);
      const p = pkg(`same-${pinned}.msi`, pinned);
      const logs: string[] = [];
      const [a, b] = await Promise.all([ensurePackage(home, p, (l) => logs.push(`web1: ${l}`)), ensurePackage(home, p, (l) => logs.push(`web2: ${l}`))]);
      assert.equal(served.get(`/${p.file}`), 1, `one download of ${p.file}: ${logs.join(' / ')}`);
      assert.equal(a, path.join(packageCacheDir(home), p.file));
      assert.equal(b, a);
      assert.ok(readFileSync(a).equals(BODY));
      assert.ok(!existsSync(`${a}.partial`) && !existsSync(`${a}.lock`));
      if (!pinned) assert.equal(readFileSync(`${a}.sha256`, 'utf8').trim(), SHA, 'the recorded digest is the one file there is');
      // and later callers use the cached file
      await ensurePackage(home, p);
      assert.equal(served.get(`/${p.file}`), 1);
    }
  });

  test('two labctl processes sharing a cache: one downloads, the other waits for it', async () => {
    const cache = path.join(tmp, 'shared-cache');
    const p = pkg('shared.msi', false);
    const script = path.join(tmp, 'fetch.mts');
    writeFileSync(
      script,
      `import { ensurePackage } from ${JSON.stringify(path.join(REPO, 'src/roles/web-windows/packages.ts'))};\n` +
        `const file = await ensurePackage(process.argv[2], JSON.parse(process.argv[3]), (l) => console.log(l));\nconsole.log('FILE ' + file);\n`,
    );
    const run = (home: string) =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--import', 'tsx', script, home, JSON.stringify(p)], { cwd: REPO, env: { ...process.env, LABCTL_CACHE: cache, NO_PROXY: '127.0.0.1' }, timeout: 60_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
        ),
      );
    const [one, two] = await Promise.all([run(path.join(tmp, 'home-a')), run(path.join(tmp, 'home-b'))]);
    assert.equal(served.get('/shared.msi'), 1, `one download between the two processes:\n${one}\n${two}`);
    const file = path.join(cache, 'msi', 'shared.msi');
    assert.match(one, new RegExp(`FILE ${file.replace(/[.\\/]/g, '\\$&')}`));
    assert.match(two, new RegExp(`FILE ${file.replace(/[.\\/]/g, '\\$&')}`));
    assert.match(one + two, /another labctl is downloading shared\.msi; waiting for it/);
    assert.ok(readFileSync(file).equals(BODY));
  });
});
