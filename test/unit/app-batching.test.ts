/**
 * Messages a server accepts in one turn of its event loop travel together: one "chats"
 * event (one frame per client, one Redis publish) instead of one "chat" each. A message
 * alone still arrives as "chat". Order and exactly-once delivery hold on both servers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppProcess, buildBundle, Harness, RedisProcess, TestClient, uniqueText, waitUntil } from '../helpers/app-harness.js';

describe('chat broadcasts batched per event-loop turn', () => {
  const h = new Harness();
  let redis: RedisProcess;
  let web1: AppProcess;
  let web2: AppProcess;
  let sender: TestClient;
  let local: TestClient;
  let remote: TestClient;
  const events = { local: [] as string[], remote: [] as string[] };

  before(async () => {
    await buildBundle();
    redis = await h.startRedis();
    [web1, web2] = await Promise.all([
      h.startApp({ NODE_NAME: 'web1', RATE_PER_SEC: '1000', RATE_BURST: '1000', ...h.redisEnv(redis) }),
      h.startApp({ NODE_NAME: 'web2', RATE_PER_SEC: '1000', RATE_BURST: '1000', ...h.redisEnv(redis) }),
    ]);
    await Promise.all([web1, web2].map((app) => waitUntil(`${app.node} linked`, async () => (await app.health()).redis === 'connected')));
    [sender, local, remote] = await Promise.all([h.joinedClient(web1, 'sender'), h.joinedClient(web1, 'local'), h.joinedClient(web2, 'remote')]);
    local.socket.on('chat', () => events.local.push('chat'));
    local.socket.on('chats', (b) => events.local.push(`chats:${b.length}`));
    remote.socket.on('chat', () => events.remote.push('chat'));
    remote.socket.on('chats', (b) => events.remote.push(`chats:${b.length}`));
  });

  after(() => h.cleanup());

  it('a lone message is a "chat" event on both servers', async () => {
    const text = uniqueText('alone');
    assert.equal((await sender.send(text)).ok, true);
    await Promise.all([local.waitForMessage(text), remote.waitForMessage(text)]);
    assert.deepEqual(events.local, ['chat']);
    assert.deepEqual(events.remote, ['chat']);
  });

  it('a burst read in one turn arrives as fewer, larger "chats" events, in order, each message once', async () => {
    events.local.length = 0;
    events.remote.length = 0;
    const texts = Array.from({ length: 50 }, (_, i) => uniqueText(`burst ${i}`));
    // all emitted without waiting: they reach the server in one or a few TCP reads
    const acks = await Promise.all(texts.map((t) => sender.send(t)));
    assert.ok(acks.every((a) => a.ok));
    for (const c of [local, remote]) {
      await c.waitForMessage(texts[texts.length - 1]!);
      const got = c.messages.filter((m) => texts.includes(m.text)).map((m) => m.text);
      assert.deepEqual(got, texts, 'every message once, in the order sent');
    }
    for (const seen of [events.local, events.remote]) {
      assert.ok(seen.length < texts.length, `50 messages took ${seen.length} events: ${seen.join(' ')}`);
      assert.ok(seen.some((e) => e.startsWith('chats:')), 'at least one batch');
    }
  });
});
