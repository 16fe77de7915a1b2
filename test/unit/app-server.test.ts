/**
 * The chat app as deployed: the esbuild bundle (dist/app/server.cjs), run as child processes
 * against real redis-server instances on loopback. Needs Debian's `redis-server` package.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_TEXT_LENGTH } from '../../src/app/protocol.js';
import {
  AppProcess,
  buildBundle,
  getOverSocket,
  Harness,
  RedisProcess,
  repoRoot,
  serverBundle,
  TestClient,
  uniqueText,
  waitUntil,
} from '../helpers/app-harness.js';

/** Sends a marker after the message under test; once it arrives, anything sent before it has too. */
async function sendMarker(sender: TestClient, receivers: TestClient[]): Promise<void> {
  const marker = uniqueText('marker');
  const ack = await sender.send(marker);
  assert.equal(ack.ok, true, 'marker accepted');
  await Promise.all(receivers.map((r) => r.waitForMessage(marker)));
}

describe('chat app bundle', () => {
  const h = new Harness();
  let redis: RedisProcess;
  let web1: AppProcess;
  let web2: AppProcess;
  let a1: TestClient;
  let a2: TestClient;
  let b1: TestClient;
  const sentTexts: string[] = [];

  before(async () => {
    await buildBundle();
    redis = await h.startRedis();
    [web1, web2] = await Promise.all([
      h.startApp({ NODE_NAME: 'web1', ...h.redisEnv(redis) }),
      h.startApp({ NODE_NAME: 'web2', ...h.redisEnv(redis) }),
    ]);
    await Promise.all(
      [web1, web2].map((app) => waitUntil(`${app.node} linked to Redis`, async () => (await app.health()).redis === 'connected')),
    );
    [a1, a2, b1] = await Promise.all([
      h.joinedClient(web1, 'alice'),
      h.joinedClient(web1, 'anna'),
      h.joinedClient(web2, 'bob'),
    ]);
  });

  after(() => h.cleanup());

  it('is one CommonJS file that requires nothing but Node built-ins', () => {
    const bundle = readFileSync(serverBundle, 'utf8');
    const required = new Set([...bundle.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!));
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    const foreign = [...required].filter((r) => !builtins.has(r));
    assert.deepEqual(foreign, [], 'non-built-in requires left in the bundle');
    assert.ok(!/\bimport\s*\(|\bimport\.meta\b/.test(bundle), 'no ESM-only syntax in the CommonJS bundle');
    for (const file of ['index.html', 'app.js', 'app.css']) {
      assert.ok(existsSync(path.join(repoRoot, 'dist/app/public', file)), `public/${file} built`);
    }
    const page = readFileSync(path.join(repoRoot, 'dist/app/public/app.js'), 'utf8');
    assert.ok(!/\brequire\(/.test(page), 'the page bundle is self-contained');
    assert.ok(!/innerHTML|insertAdjacentHTML|outerHTML/.test(readFileSync(path.join(repoRoot, 'src/app/page/app.ts'), 'utf8')));
  });

  it('delivers a message sent to one server to every client of both servers, exactly once', async () => {
    const text = uniqueText('hello from web1');
    sentTexts.push(text);
    const before = Date.now();
    const ack = await a1.send(text);
    assert.equal(ack.ok, true);
    await sendMarker(a1, [a1, a2, b1]);
    for (const client of [a1, a2, b1]) {
      assert.equal(client.count(text), 1, 'received exactly once');
      const m = client.messages.find((x) => x.text === text)!;
      assert.equal(m.origin, 'web1');
      assert.equal(m.name, 'alice');
      assert.equal(ack.ok && m.id, ack.ok && ack.id, 'the broadcast carries the acknowledged id');
      assert.match(m.id, /^web1-\d+-\d+$/);
      assert.ok(m.sentAt >= before - 1000 && m.sentAt <= Date.now() + 1000, 'sentAt is the server clock');
    }

    const reply = uniqueText('reply from web2');
    sentTexts.push(reply);
    assert.equal((await b1.send(reply)).ok, true);
    await Promise.all([a1, a2, b1].map((c) => c.waitForMessage(reply)));
    assert.equal(a1.messages.find((m) => m.text === reply)!.origin, 'web2');
  });

  it('welcomes each connection with the node, channel and Redis state', () => {
    assert.deepEqual(a1.welcome, { node: 'web1', channel: 'ChatApp', redis: 'connected' });
    assert.deepEqual(b1.welcome, { node: 'web2', channel: 'ChatApp', redis: 'connected' });
  });

  it('refuses names that are empty or longer than 64 characters, and trims the rest', async () => {
    const c = await h.client(web1);
    const long = await c.join('x'.repeat(65));
    assert.equal(long.ok, false);
    assert.equal(!long.ok && long.code, 'too_long');
    const blank = await c.join('   ');
    assert.equal(!blank.ok && blank.code, 'empty');
    const notText = await c.emitRaw('join', { name: 'x' });
    assert.equal(!notText.ok && notText.code, 'bad_request');
    await waitUntil('three notices', () => c.notices.length === 3);
    assert.deepEqual(c.notices.map((n) => n.code), ['too_long', 'empty', 'bad_request']);
    const ok = await c.join(`  ${'y'.repeat(64)}  `);
    assert.deepEqual(ok, { ok: true, node: 'web1', name: 'y'.repeat(64) });
  });

  it('refuses chat before join, empty text and malformed payloads', async () => {
    const c = await h.client(web2);
    const early = await c.send('too early');
    assert.equal(!early.ok && early.code, 'not_joined');
    await c.join('carol');
    assert.equal((await c.send(' \t ')).ok, false);
    const bad = await c.emitRaw('chat', 'just a string');
    assert.equal(!bad.ok && bad.code, 'bad_request');
    await sendMarker(c, [a1, b1]);
    assert.equal(a1.count('too early') + b1.count('too early'), 0);
  });

  it(`refuses text over ${MAX_TEXT_LENGTH} characters with a notice, and does not broadcast it`, async () => {
    const long = `${uniqueText('long')} `.padEnd(MAX_TEXT_LENGTH + 1, 'z');
    assert.equal(long.length, MAX_TEXT_LENGTH + 1);
    const noticesBefore = a1.notices.length;
    const ack = await a1.send(long);
    assert.equal(ack.ok, false);
    assert.equal(!ack.ok && ack.code, 'too_long');
    assert.ok(!ack.ok && ack.error.length > 0);
    await waitUntil('a too_long notice', () => a1.notices.slice(noticesBefore).find((n) => n.code === 'too_long'));
    assert.equal(a2.notices.length, 0, 'the notice goes to the sender only');

    const exact = `${uniqueText('exact')} `.padEnd(MAX_TEXT_LENGTH, 'q');
    assert.equal((await a1.send(exact)).ok, true, 'exactly the limit is accepted');
    await sendMarker(a1, [a2, b1]);
    assert.equal(b1.count(long) + a2.count(long) + a1.count(long), 0, 'the long text reached nobody');
    assert.equal(b1.count(exact), 1);
  });

  it('delivers an HTML payload byte-identical, as text', async () => {
    const payloads = ['<img src=x onerror=alert(1)>', `<script>alert("x")</script> &amp; ' ü 😀 ${uniqueText('')}`];
    for (const p of payloads) {
      sentTexts.push(p);
      assert.equal((await a1.send(p)).ok, true);
    }
    for (const p of payloads) {
      const got = await b1.waitForMessage(p);
      assert.equal(Buffer.compare(Buffer.from(got.text), Buffer.from(p)), 0);
    }
  });

  it('limits each connection to its burst, then refills at the configured rate', async () => {
    const limited = await h.startApp({ NODE_NAME: 'web3', RATE_PER_SEC: '2', RATE_BURST: '5', ...h.redisEnv(redis) });
    await waitUntil('web3 linked', async () => (await limited.health()).redis === 'connected');
    const flooder = await h.joinedClient(limited, 'flood');
    const other = await h.joinedClient(limited, 'calm');
    const texts = Array.from({ length: 9 }, (_, i) => uniqueText(`flood ${i}`));
    const acks = await Promise.all(texts.map((t) => flooder.send(t)));
    const accepted = texts.filter((_, i) => acks[i]!.ok);
    assert.equal(accepted.length, 5, 'exactly the burst is accepted');
    assert.deepEqual(
      acks.filter((a) => !a.ok).map((a) => !a.ok && a.code),
      Array(4).fill('rate_limited'),
    );
    await waitUntil('four rate_limited notices', () => flooder.notices.filter((n) => n.code === 'rate_limited').length === 4);

    // A second connection has its own bucket; its marker also proves the refused ones never left.
    await sendMarker(other, [b1]);
    for (const t of texts) assert.equal(b1.count(t), accepted.includes(t) ? 1 : 0);

    await waitUntil('a refilled token', async () => (await flooder.send(uniqueText('later'))).ok, 3000);
  });

  it('answers /healthz with the node, the Redis state, its own client count and its build (the sha256 of its bundle file)', async () => {
    const res = await fetch(`${web1.url}/healthz`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const report = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(report).sort(), ['build', 'channel', 'clients', 'node', 'pid', 'redis', 'uptimeMs']);
    assert.equal(report.build, createHash('sha256').update(readFileSync(serverBundle)).digest('hex'), 'the build is the bundle it runs');
    assert.equal(report.node, 'web1');
    assert.equal(report.channel, 'ChatApp');
    assert.equal(report.redis, 'connected');
    assert.equal(report.pid, web1.proc.pid);
    assert.ok(typeof report.uptimeMs === 'number' && report.uptimeMs > 0);
    const base = report.clients as number;
    assert.ok(base >= 2, 'alice and anna are connected to web1');

    const extra = await h.client(web1);
    await waitUntil('one more client', async () => (await web1.health()).clients === base + 1);
    extra.close();
    await waitUntil('back to the earlier count', async () => (await web1.health()).clients === base);
  });

  it('serves the page with security headers, its two assets, and nothing else', async () => {
    const page = await fetch(`${web1.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /default-src 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    for (const hook of ['join-form', 'name-input', 'join-button', 'send-form', 'message-input', 'send-button', 'server-name', 'connection-state', 'messages', 'notice']) {
      assert.ok(html.includes(`id="${hook}"`), `#${hook} on the page`);
    }
    const js = await fetch(`${web1.url}/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    const css = await fetch(`${web1.url}/app.css`);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    const etag = css.headers.get('etag')!;
    assert.equal((await fetch(`${web1.url}/app.css`, { headers: { 'if-none-match': etag } })).status, 304);
    for (const p of ['/nope', '/index.html', '/../package.json', '/socket.io/socket.io.js']) {
      const res = await fetch(`${web1.url}${p}`);
      assert.notEqual(res.status, 200, `${p} is not served`);
      await res.arrayBuffer();
    }
    assert.equal((await fetch(`${web1.url}/`, { method: 'POST' })).status, 405);
  });

  it('upgrades a default (polling first) client to WebSocket', async () => {
    const c = await h.client(web2, { transports: ['polling', 'websocket'] });
    const engine = c.socket.io.engine;
    await waitUntil('the upgrade to websocket', () => engine.transport.name === 'websocket');
    assert.equal((await c.join('poller')).ok, true);
    const text = uniqueText('over the upgraded link');
    assert.equal((await c.send(text)).ok, true);
    await a1.waitForMessage(text);
  });

  it('logs events but never the Redis password or message texts', () => {
    const logs = web1.stdout + web2.stdout + web1.stderr + web2.stderr;
    assert.match(web1.stdout, /listening on 127\.0\.0\.1:\d+/);
    assert.match(web1.stdout, /redis connected/);
    assert.ok(!logs.includes(redis.password), 'password in the logs');
    for (const t of sentTexts) assert.ok(!logs.includes(t), 'message text in the logs');
    for (const line of web1.stdout.trimEnd().split('\n')) assert.match(line, /^\d{4}-\d\d-\d\dT\S+ chat\[web1\] \S/);
  });
});

describe('chat app when Redis goes away', () => {
  const h = new Harness();
  before(() => buildBundle());
  after(() => h.cleanup());

  it('keeps serving local clients, reconnects by itself and resumes cross-server delivery', async () => {
    let redis = await h.startRedis();
    const env = h.redisEnv(redis);
    const [c, d] = await Promise.all([h.startApp({ NODE_NAME: 'node-c', ...env }), h.startApp({ NODE_NAME: 'node-d', ...env })]);
    for (const app of [c, d]) await waitUntil(`${app.node} linked`, async () => (await app.health()).redis === 'connected');
    const [c1, c2, d1] = await Promise.all([h.joinedClient(c, 'c1'), h.joinedClient(c, 'c2'), h.joinedClient(d, 'd1')]);

    await redis.stop('SIGKILL');
    const down = await waitUntil('node-c to notice', async () => {
      const state = (await c.health()).redis;
      return state !== 'connected' && state;
    });
    assert.equal(down, 'reconnecting');
    await waitUntil('a status push to local clients', () => c1.statuses.some((s) => s.redis === 'reconnecting' && s.node === 'node-c'));

    const during = uniqueText('during the outage');
    const ack = await c1.send(during);
    assert.equal(ack.ok, true, 'accepted while Redis is down');
    await c2.waitForMessage(during);
    assert.equal(c1.count(during), 1);

    redis = await h.startRedis(redis.port, redis.password);
    for (const app of [c, d]) {
      await waitUntil(`${app.node} reconnected`, async () => (await app.health()).redis === 'connected', 8000);
    }
    await waitUntil('a connected status push', () => c1.statuses.at(-1)?.redis === 'connected');

    const afterText = uniqueText('after the outage');
    assert.equal((await c1.send(afterText)).ok, true);
    const got = await d1.waitForMessage(afterText);
    assert.equal(got.origin, 'node-c');
    const back = uniqueText('and back');
    assert.equal((await d1.send(back)).ok, true);
    await c2.waitForMessage(back);
    // Redis pub/sub keeps nothing: what was sent during the outage stays on the server that took it.
    assert.equal(d1.count(during), 0);
    assert.equal(c2.count(during), 1);
    assert.doesNotMatch(c.stdout + d.stdout, /unhandled rejection/);
    assert.match(c.stdout, /redis reconnecting[^\n]*\n(.*\n)*.*redis connected/);
  });

  it('notices a Redis that stops answering without closing the connection', async () => {
    const redis = await h.startRedis();
    const app = await h.startApp({ NODE_NAME: 'node-e', REDIS_WATCHDOG_MS: '200', ...h.redisEnv(redis) });
    await waitUntil('linked', async () => (await app.health()).redis === 'connected');
    redis.proc.kill('SIGSTOP');
    try {
      await waitUntil('the watchdog', async () => (await app.health()).redis !== 'connected', 4000);
      assert.match(app.stdout, /unresponsive/);
    } finally {
      redis.proc.kill('SIGCONT');
    }
    await waitUntil('reconnected after SIGCONT', async () => (await app.health()).redis === 'connected', 8000);
  });

  it('starts, serves and relays locally while Redis has never been reachable', async () => {
    const unused = await h.startRedis();
    await unused.stop('SIGKILL');
    const app = await h.startApp({ NODE_NAME: 'lonely', REDIS_PORT: String(unused.port) });
    assert.equal((await app.health()).redis, 'connecting');
    assert.equal((await fetch(`${app.url}/`)).status, 200);
    const [x, y] = await Promise.all([h.joinedClient(app, 'x'), h.joinedClient(app, 'y')]);
    const text = uniqueText('local only');
    assert.equal((await x.send(text)).ok, true);
    await y.waitForMessage(text);
    const started = Date.now();
    const exit = await app.stop('SIGTERM', 5000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - started < 3000, 'stopped promptly');
  });
});

describe('chat app process', () => {
  const h = new Harness();
  let redis: RedisProcess;
  before(async () => {
    await buildBundle();
    redis = await h.startRedis();
  });
  after(() => h.cleanup());

  it('stops cleanly on SIGTERM with clients connected, exit code 0', async () => {
    const app = await h.startApp({ NODE_NAME: 'stopper', ...h.redisEnv(redis) });
    await waitUntil('linked', async () => (await app.health()).redis === 'connected');
    const [p, q] = await Promise.all([h.joinedClient(app, 'p'), h.client(app, { transports: ['polling'] })]);
    const started = Date.now();
    const exit = await app.stop('SIGTERM', 5000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - started < 3000, `stopped in ${Date.now() - started} ms`);
    assert.match(app.stdout, /SIGTERM received, stopping/);
    assert.match(app.stdout, /stopped\n$/);
    await waitUntil('clients see the disconnect', () => p.disconnectReason !== undefined && q.disconnectReason !== undefined);
  });

  it('listens on a socket path given as PORT, as iisnode passes a named pipe', async () => {
    const socketPath = path.join(h.dir, 'chat.sock');
    const app = h.spawnApp({ PORT: socketPath, NODE_NAME: 'piped', ...h.redisEnv(redis) });
    await app.waitForOutput(`listening on ${socketPath}`, 5000, 'piped app');
    const health = await getOverSocket(socketPath, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).node, 'piped');
    const page = await getOverSocket(socketPath, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.deepEqual(await app.stop('SIGTERM'), { code: 0, signal: null });
    assert.equal(existsSync(socketPath), false, 'the socket file is removed on stop');
  });

  it('exits 2 with a single line on stderr for each bad setting', async () => {
    const empty = path.join(h.dir, 'empty-password');
    writeFileSync(empty, '\n');
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'abc' }, /PORT/],
      [{ PORT: '70000' }, /PORT/],
      [{ PORT: '8080', HOST: 'bad host' }, /HOST/],
      [{ PORT: path.join(h.dir, 'x.sock'), HOST: '127.0.0.1' }, /HOST/],
      [{ REDIS_PORT: '0' }, /REDIS_PORT/],
      [{ REDIS_PORT: '6379x' }, /REDIS_PORT/],
      [{ REDIS_PASSWORD_FILE: path.join(h.dir, 'missing') }, /REDIS_PASSWORD_FILE.*ENOENT/],
      [{ REDIS_PASSWORD_FILE: empty }, /REDIS_PASSWORD_FILE.*empty/],
      [{ CHANNEL: 'Chat App*' }, /CHANNEL/],
      [{ NODE_NAME: 'n'.repeat(65) }, /NODE_NAME/],
      [{ RATE_PER_SEC: '0' }, /RATE_PER_SEC/],
      [{ RATE_BURST: '1.5' }, /RATE_BURST/],
      [{ PUBLIC_DIR: path.join(h.dir, 'no-such-dir') }, /PUBLIC_DIR.*index\.html/],
    ];
    await Promise.all(
      cases.map(async ([env, pattern]) => {
        const app = h.spawnApp({ PORT: '0', HOST: '127.0.0.1', ...env });
        const exit = await app.exitWithin(5000);
        const label = JSON.stringify(env);
        assert.deepEqual(exit, { code: 2, signal: null }, label);
        assert.equal(app.stdout, '', label);
        assert.match(app.stderr, /^chat: [^\n]+\n$/, `${label}: one line, got ${JSON.stringify(app.stderr)}`);
        assert.match(app.stderr, pattern, label);
      }),
    );
  });
});
