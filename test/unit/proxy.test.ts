/**
 * Downloads go through HTTP(S)_PROXY unless NO_PROXY names the host, as curl does (Node's
 * own fetch ignores them). A forwarding proxy and an origin, both on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { downloadVerified } from '../../src/util/download.js';
import { bypassesProxy, proxyFromEnv } from '../../src/util/proxy.js';

const body = Buffer.from('redis-7.0.15.tar.gz, or so it says\n'.repeat(100));
const sha = createHash('sha256').update(body).digest('hex');
const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-proxy-'));
const seenByProxy: string[] = [];
let origin: http.Server;
let proxy: http.Server;
let originUrl: string;
let proxyUrl: string;
const saved = { ...process.env };

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

before(async () => {
  origin = http.createServer((req, res) => (req.url === '/file' ? res.end(body) : res.writeHead(404).end()));
  // a tunnelling proxy, as corporate proxies are: CONNECT host:port, then bytes both ways
  proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seenByProxy.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const up = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  originUrl = `http://127.0.0.1:${await listen(origin)}/file`;
  proxyUrl = `http://127.0.0.1:${await listen(proxy)}`;
});
afterEach(() => {
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  seenByProxy.length = 0;
});
after(() => {
  origin.closeAllConnections();
  proxy.closeAllConnections();
  origin.close();
  proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('downloads and proxies', () => {
  test('with HTTP_PROXY set, the download goes through the proxy and is checked as usual', async () => {
    process.env.HTTP_PROXY = proxyUrl;
    delete process.env.NO_PROXY;
    const dest = path.join(dir, 'a');
    await downloadVerified(originUrl, sha, dest);
    assert.deepEqual(readFileSync(dest), body);
    assert.deepEqual(seenByProxy, [new URL(originUrl).host]);
  });

  test('NO_PROXY naming the host goes direct', async () => {
    process.env.HTTP_PROXY = proxyUrl;
    process.env.NO_PROXY = '127.0.0.1';
    await downloadVerified(originUrl, sha, path.join(dir, 'b'));
    assert.deepEqual(seenByProxy, []);
  });

  test('without a proxy variable nothing changes', async () => {
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) delete process.env[k];
    assert.equal(proxyFromEnv(), undefined);
    await downloadVerified(originUrl, sha, path.join(dir, 'c'));
    assert.deepEqual(seenByProxy, []);
  });

  test('NO_PROXY as curl reads it: names and their subdomains, addresses, CIDR ranges, ports, *', () => {
    const no = 'localhost,.corp.example,10.0.0.0/8,mirror.example:8080';
    assert.equal(bypassesProxy('localhost', '80', no), true);
    assert.equal(bypassesProxy('download.corp.example', '443', no), true);
    assert.equal(bypassesProxy('corp.example', '443', no), true);
    assert.equal(bypassesProxy('notcorp.example', '443', no), false);
    assert.equal(bypassesProxy('10.1.2.3', '80', no), true);
    assert.equal(bypassesProxy('11.1.2.3', '80', no), false);
    assert.equal(bypassesProxy('mirror.example', '8080', no), true);
    assert.equal(bypassesProxy('mirror.example', '443', no), false);
    assert.equal(bypassesProxy('anything', '1', '*'), true);
    assert.equal(bypassesProxy('anything', '1', undefined), false);
  });

  test('settings are read as curl reads them: upper or lower case, HTTPS falling back to HTTP', () => {
    assert.deepEqual(proxyFromEnv({ http_proxy: 'http://p:3128', no_proxy: '.lab' }), { http: 'http://p:3128', https: 'http://p:3128', noProxy: '.lab' });
    assert.deepEqual(proxyFromEnv({ HTTPS_PROXY: 'http://s:8080' }), { http: 'http://s:8080', https: 'http://s:8080', noProxy: undefined });
  });
});
