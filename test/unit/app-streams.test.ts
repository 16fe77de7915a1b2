/**
 * The streams backplane (issue 11, part 3) against the real thing: Debian's redis-server with
 * labctl's own templates/redis/redis.conf and the `chat` user's rules for streams, and two
 * instances of the real chat bundle with BACKPLANE=streams. What this proves:
 *   - the ACL grants exactly what @socket.io/redis-streams-adapter and ioredis send: Redis's ACL LOG
 *     stays empty through broadcasts, a Redis restart and a session persisted and taken back;
 *   - a message accepted while Redis is down is delivered once Redis is back, exactly once, on
 *     both servers (pub/sub would drop it: test/unit/app-acl.test.ts has no such promise);
 *   - a client whose server is restarted (SIGTERM, a service restart) comes back to the new
 *     process with its session: the messages sent meanwhile are replayed, its name still holds.
 * Built by `npm run build` (dist/app); redis-server from Debian's package.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { io as connect, type Socket } from 'socket.io-client';
import { buildBundle, freePort, Harness, RedisProcess, uniqueText, waitUntil, type AppProcess } from '../helpers/app-harness.js';
import { aclProbes, CHAT_USER, chatAclRules } from '../../src/roles/redis/acl.js';
import { streamsKeys } from '../../src/spec/backplane-keys.js';
import type { ChatMessage } from '../../src/app/protocol.js';
import { renderTemplate } from '../../src/util/template.js';

const CHANNEL = 'ChatApp';

describe('the streams backplane as Redis user chat (labctl\'s redis.conf, the real bundle)', { timeout: 90_000 }, () => {
  const h = new Harness();
  const admin = randomBytes(18).toString('base64url');
  const chat = randomBytes(18).toString('base64url');
  let port: number;
  let conf: string;
  let redis: RedisProcess;
  const started: RedisProcess[] = [];
  let web1: AppProcess;
  let web2: AppProcess;
  let env: Record<string, string>;
  let adminClient: Redis;
  const sockets: Socket[] = [];

  async function startRedis(): Promise<RedisProcess> {
    const proc = spawn('redis-server', [conf, '--logfile', '', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = new RedisProcess(proc, port, admin);
    started.push(r);
    await r.waitForOutput('Ready to accept connections', 5000, 'redis-server with labctl\'s redis.conf');
    return r;
  }

  /** a page-like client that reconnects (as the browser's socket.io does), collecting every message */
  async function reconnectingClient(app: AppProcess, name: string): Promise<{ socket: Socket; messages: ChatMessage[] }> {
    const socket = connect(app.url!, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 300, timeout: 3000 });
    sockets.push(socket);
    const messages: ChatMessage[] = [];
    socket.on('chat', (m: ChatMessage) => messages.push(m));
    socket.on('chats', (batch: ChatMessage[]) => messages.push(...batch));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const ack = (await socket.timeout(3000).emitWithAck('join', name)) as { ok: boolean };
    assert.equal(ack.ok, true);
    return { socket, messages };
  }

  const send = async (s: Socket, text: string, timeoutMs = 3000) => (await s.timeout(timeoutMs).emitWithAck('chat', { text })) as { ok: boolean; error?: string };
  const count = (messages: ChatMessage[], text: string) => messages.filter((m) => m.text === text).length;

  before(async () => {
    await buildBundle();
    port = await freePort();
    conf = path.join(h.dir, 'redis.conf');
    writeFileSync(
      conf,
      renderTemplate('redis/redis.conf', {
        lab: 'streams-test',
        bind: '127.0.0.1',
        port,
        password: admin,
        chatUser: CHAT_USER,
        chatRules: chatAclRules(CHANNEL, chat, 'streams'),
        daemonize: 'no',
        supervised: 'no',
        pidfile: path.join(h.dir, 'redis.pid'),
        logfile: path.join(h.dir, 'redis.log'),
        dir: h.dir,
      }),
      { mode: 0o600 },
    );
    redis = await startRedis();
    env = { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port), REDIS_USERNAME: CHAT_USER, REDIS_PASSWORD_FILE: h.passwordFile(chat), CHANNEL, BACKPLANE: 'streams' };
    [web1, web2] = await Promise.all([h.startApp({ NODE_NAME: 'web1', ...env }), h.startApp({ NODE_NAME: 'web2', ...env })]);
    adminClient = new Redis({ port, host: '127.0.0.1', password: admin, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    adminClient.on('error', () => {}); // it retries through the restart below
    await adminClient.connect();
    for (const app of [web1, web2]) await waitUntil(`${app.node} connected to Redis`, async () => (await app.health()).redis === 'connected', 10_000);
  });
  after(async () => {
    for (const s of sockets) s.close();
    adminClient?.disconnect();
    await h.cleanup();
    await Promise.allSettled(started.map((r) => r.stop('SIGKILL')));
  });

  it('each app has its three connections (pub, sub, stream reader), all user chat, and says backplane=streams', async () => {
    for (const app of [web1, web2]) assert.match(app.stdout + app.stderr, /backplane=streams .*auth=user chat/);
    const list = String(await adminClient.call('CLIENT', 'LIST'));
    const names = list.split('\n').filter((l) => / name=chat:/.test(l));
    for (const node of ['web1', 'web2']) {
      for (const role of ['pub', 'sub', 'stream']) assert.ok(names.some((l) => l.includes(` name=chat:${node}:${role} `)), `chat:${node}:${role} in\n${list}`);
    }
    for (const line of names) assert.match(line, / user=chat /, line);
    assert.equal(Number(((await adminClient.call('PUBSUB', 'NUMSUB', streamsKeys(CHANNEL).channel)) as [string, number])[1]), 2, 'one subscriber per server on the public channel');
  });

  it('messages cross through the stream; nothing the adapter sends is refused (ACL LOG empty)', async () => {
    const [a, b] = await Promise.all([reconnectingClient(web1, 'alice'), reconnectingClient(web2, 'bob')]);
    const text = uniqueText('streams');
    assert.equal((await send(a.socket, text)).ok, true);
    await waitUntil('web2 gets it', () => count(b.messages, text) === 1);
    const entries = (await adminClient.xrange(streamsKeys(CHANNEL).stream, '-', '+')) as [string, string[]][];
    assert.ok(entries.some(([, f]) => f.join(' ').includes(text)), 'the message is an entry of ChatApp-stream');
    assert.deepEqual(await adminClient.call('ACL', 'LOG'), []);
    a.socket.close();
    b.socket.close();
  });

  it('a message accepted while Redis is down reaches the other server once Redis is back, exactly once', async () => {
    const [a, b] = await Promise.all([reconnectingClient(web1, 'carol'), reconnectingClient(web2, 'dave')]);
    await redis.stop('SIGKILL');
    for (const app of [web1, web2]) await waitUntil(`${app.node} notices`, async () => (await app.health()).redis !== 'connected');
    const text = uniqueText('during-outage');
    // the ack comes when the server has accepted it; the adapter's XADD waits in ioredis's queue
    const acked = send(a.socket, text, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(count(b.messages, text), 0, 'not delivered while Redis is away');
    redis = await startRedis();
    for (const app of [web1, web2]) await waitUntil(`${app.node} reconnected`, async () => (await app.health()).redis === 'connected', 15_000);
    assert.equal((await acked).ok, true);
    await waitUntil('web2 gets the message sent during the outage', () => count(b.messages, text) >= 1, 10_000);
    await waitUntil('web1\'s own client gets it too', () => count(a.messages, text) >= 1, 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(count(b.messages, text), 1, 'exactly once on web2');
    assert.equal(count(a.messages, text), 1, 'exactly once on web1');
    await waitUntil('the admin connection back', async () => (await adminClient.ping().catch(() => '')) === 'PONG', 10_000);
    assert.deepEqual(await adminClient.call('ACL', 'LOG'), [], 'the re-sent XREAD/XADD and re-subscriptions are all allowed');
    a.socket.close();
    b.socket.close();
  });

  it('a client whose server restarts (SIGTERM) gets its session back on the new process: missed messages replayed, name kept', async () => {
    const [a, b] = await Promise.all([reconnectingClient(web1, 'erin'), reconnectingClient(web2, 'frank')]);
    const before = uniqueText('before-restart');
    assert.equal((await send(b.socket, before)).ok, true);
    await waitUntil('erin got the first message (her offset)', () => count(a.messages, before) === 1);
    const disconnected = new Promise<void>((r) => a.socket.once('disconnect', () => r()));
    await web1.stop('SIGTERM');
    await disconnected;
    const missed = uniqueText('while-away');
    assert.equal((await send(b.socket, missed)).ok, true);
    const reconnected = new Promise<void>((r) => a.socket.once('connect', () => r()));
    web1 = h.spawnApp(web1.env);
    await web1.waitForOutput('listening on', 5000, 'web1 again');
    await waitUntil('web1 connected to Redis again', async () => (await web1.health()).redis === 'connected', 10_000);
    await reconnected;
    assert.equal(a.socket.recovered, true, 'the session was recovered (connection state recovery through Redis)');
    await waitUntil('the missed message replayed to erin', () => count(a.messages, missed) === 1, 5000);
    // her name survived: she can send without joining again
    const after = uniqueText('after-restart');
    const ack = await send(a.socket, after);
    assert.equal(ack.ok, true, JSON.stringify(ack));
    await waitUntil('frank gets it', () => count(b.messages, after) === 1);
    assert.equal(count(a.messages, before), 1, 'nothing replayed twice');
    assert.deepEqual(await adminClient.call('ACL', 'LOG'), [], 'SET, MULTI/GET/DEL/EXEC and XRANGE of the session are allowed');
    a.socket.close();
    b.socket.close();
  });

  it('what chat must not do is refused: ACL DRYRUN says so, and so does Redis when chat tries', async () => {
    for (const p of aclProbes(CHANNEL, 'streams')) {
      const answer = String(await adminClient.call('ACL', 'DRYRUN', CHAT_USER, ...p.command));
      if (p.allowed) assert.equal(answer, 'OK', `${p.why}: ${answer}`);
      else assert.match(answer, /no permissions/, `${p.why}: ${answer}`);
    }
    const asChat = new Redis({ port, host: '127.0.0.1', username: CHAT_USER, password: chat, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 1 });
    try {
      await asChat.connect();
      for (const denied of [['CONFIG', 'GET', 'requirepass'], ['FLUSHALL'], ['KEYS', '*'], ['SET', 'k', 'v'], ['XADD', 'other', '*', 'a', 'b'], ['DEL', streamsKeys(CHANNEL).stream], ['SET', streamsKeys(CHANNEL).stream, 'x'], ['XADD', `${streamsKeys(CHANNEL).sessionPrefix}x`, '*', 'a', 'b'], ['INFO']]) {
        await assert.rejects(asChat.call(denied[0]!, ...denied.slice(1)), /NOPERM/, denied.join(' '));
      }
    } finally {
      asChat.disconnect();
    }
  });
});
