/**
 * Least privilege (issue 11, part 4) against the real thing: Debian's redis-server started with
 * labctl's own templates/redis/redis.conf (the `chat` user line as the Redis role renders it),
 * and two instances of the real chat bundle connecting as `chat`. Messages cross from one
 * server to the other, and after a Redis restart too (ioredis authenticates again as `chat`
 * and subscribes again); Redis's ACL LOG stays empty, so nothing the adapter or ioredis sends
 * is refused; every connection of the apps is user `chat`; and what the user must not do
 * (CONFIG, FLUSHALL, KEYS, publishing outside its channels) is refused, with and without
 * ACL DRYRUN. Built by `npm run build` (dist/app); redis-server from Debian's package.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { buildBundle, freePort, Harness, RedisProcess, uniqueText, waitUntil, type AppProcess } from '../helpers/app-harness.js';
import { aclProbes, CHAT_USER, chatAclRules } from '../../src/roles/redis/acl.js';
import { renderTemplate } from '../../src/util/template.js';

const CHANNEL = 'ChatApp';

describe('the chat servers as Redis user chat (labctl\'s redis.conf, the real bundle)', { timeout: 60_000 }, () => {
  const h = new Harness();
  const admin = randomBytes(18).toString('base64url');
  const chat = randomBytes(18).toString('base64url');
  let port: number;
  let conf: string;
  let redis: RedisProcess;
  const started: RedisProcess[] = [];
  let web1: AppProcess;
  let web2: AppProcess;
  let adminClient: Redis;

  async function startRedis(): Promise<RedisProcess> {
    // the config file as labctl writes it; logging to stdout so the harness sees "Ready"
    const proc = spawn('redis-server', [conf, '--logfile', '', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = new RedisProcess(proc, port, admin);
    started.push(r);
    await r.waitForOutput('Ready to accept connections', 5000, 'redis-server with labctl\'s redis.conf');
    return r;
  }

  before(async () => {
    await buildBundle();
    port = await freePort();
    conf = path.join(h.dir, 'redis.conf');
    writeFileSync(
      conf,
      renderTemplate('redis/redis.conf', {
        lab: 'acl-test',
        bind: '127.0.0.1',
        port,
        password: admin,
        chatUser: CHAT_USER,
        chatRules: chatAclRules(CHANNEL, chat),
        daemonize: 'no',
        supervised: 'no',
        pidfile: path.join(h.dir, 'redis.pid'),
        logfile: path.join(h.dir, 'redis.log'),
        dir: h.dir,
      }),
      { mode: 0o600 },
    );
    redis = await startRedis();
    const env = { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port), REDIS_USERNAME: CHAT_USER, REDIS_PASSWORD_FILE: h.passwordFile(chat), CHANNEL };
    [web1, web2] = await Promise.all([h.startApp({ NODE_NAME: 'web1', ...env }), h.startApp({ NODE_NAME: 'web2', ...env })]);
    adminClient = new Redis({ port, host: '127.0.0.1', password: admin, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    await adminClient.connect();
    for (const app of [web1, web2]) await waitUntil(`${app.node} connected to Redis`, async () => (await app.health()).redis === 'connected');
  });
  after(async () => {
    adminClient?.disconnect();
    await h.cleanup();
    await Promise.allSettled(started.map((r) => r.stop('SIGKILL')));
  });

  async function crossDelivery(label: string): Promise<void> {
    const [a, b] = await Promise.all([h.joinedClient(web1, 'alice'), h.joinedClient(web2, 'bob')]);
    const text = uniqueText(label);
    const ack = await a.send(text);
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const m = await b.waitForMessage(text, 5000);
    assert.equal(m.origin, 'web1', 'the message crossed from web1 to web2 through Redis');
    a.close();
    b.close();
  }

  it('the apps log in as chat, with the password from their file', async () => {
    for (const app of [web1, web2]) assert.match(app.stdout + app.stderr, /auth=user chat/);
    const list = String(await adminClient.call('CLIENT', 'LIST'));
    const apps = list.split('\n').filter((l) => / name=chat:/.test(l));
    assert.equal(apps.length, 4, `two connections per app:\n${list}`);
    for (const line of apps) assert.match(line, / user=chat /, line);
  });

  it('messages cross between the servers; nothing they send is refused (ACL LOG empty)', async () => {
    await crossDelivery('acl');
    assert.deepEqual(await adminClient.call('ACL', 'LOG'), [], 'no command or channel of the adapter or ioredis was refused');
  });

  it('after a Redis restart the apps authenticate as chat again, resubscribe, and messages cross again', async () => {
    await redis.stop('SIGKILL');
    for (const app of [web1, web2]) await waitUntil(`${app.node} notices`, async () => (await app.health()).redis !== 'connected');
    redis = await startRedis();
    for (const app of [web1, web2]) await waitUntil(`${app.node} reconnected`, async () => (await app.health()).redis === 'connected', 15_000);
    await waitUntil('the admin connection back', async () => (await adminClient.ping().catch(() => '')) === 'PONG', 10_000);
    await crossDelivery('after-restart');
    assert.deepEqual(await adminClient.call('ACL', 'LOG'), []);
  });

  it('what chat must not do is refused: ACL DRYRUN says so, and so does Redis when chat tries', async () => {
    for (const p of aclProbes(CHANNEL)) {
      const answer = String(await adminClient.call('ACL', 'DRYRUN', CHAT_USER, ...p.command));
      if (p.allowed) assert.equal(answer, 'OK', `${p.why}: ${answer}`);
      else assert.match(answer, /no permissions/, `${p.why}: ${answer}`);
    }
    const asChat = new Redis({ port, host: '127.0.0.1', username: CHAT_USER, password: chat, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 1 });
    try {
      await asChat.connect();
      for (const denied of [['CONFIG', 'GET', 'requirepass'], ['FLUSHALL'], ['KEYS', '*'], ['PUBLISH', 'elsewhere', 'x'], ['SET', 'k', 'v'], ['INFO']]) {
        await assert.rejects(asChat.call(denied[0]!, ...denied.slice(1)), /NOPERM/, denied.join(' '));
      }
      assert.equal(await asChat.call('PUBLISH', `${CHANNEL}#/#`, 'x'), 2, 'its own channel: both servers get it');
    } finally {
      asChat.disconnect();
    }
  });

  it('the admin password is not the chat password: chat cannot log in with it', async () => {
    await assert.rejects(adminClient.call('AUTH', CHAT_USER, admin), /WRONGPASS/);
    assert.equal(await adminClient.call('ACL', 'WHOAMI'), 'default', 'still the default user');
  });
});
