/**
 * A message sent into a silent link (found with verify --fault link-cut --fault-for 10: 8 and 14
 * duplicates per node). Redis frozen with SIGSTOP stands in for a cut link: the app's publish is
 * in the kernel's buffers, unanswered; after REDIS_WATCHDOG_MS the app replaces its connection;
 * then Redis resumes and executes what the old connection had sent. ioredis would send the
 * unanswered command again on the new connection. Pub/sub must deliver it at most once (the app
 * does not send it again); streams exactly once (sent again, the repeat dropped by the readers).
 * Real redis-server and the real bundle on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildBundle, Harness, sleep, uniqueText, waitUntil } from '../helpers/app-harness.js';

describe('a message sent while the Redis link is silent', { timeout: 60_000 }, () => {
  const h = new Harness();
  before(() => buildBundle());
  after(() => h.cleanup());

  for (const backplane of ['pubsub', 'streams'] as const) {
    it(`${backplane}: reaches the other server ${backplane === 'pubsub' ? 'at most once' : 'exactly once'}, in order`, async () => {
      const redis = await h.startRedis();
      const env = { ...h.redisEnv(redis), BACKPLANE: backplane, REDIS_WATCHDOG_MS: '300' };
      const [a, b] = await Promise.all([h.startApp({ NODE_NAME: `${backplane}-a`, ...env }), h.startApp({ NODE_NAME: `${backplane}-b`, ...env })]);
      for (const app of [a, b]) await waitUntil(`${app.node} linked`, async () => (await app.health()).redis === 'connected', 8000);
      const [alice, bob] = await Promise.all([h.joinedClient(a, 'alice'), h.joinedClient(b, 'bob')]);
      const warm = uniqueText('warm');
      assert.equal((await alice.send(warm)).ok, true);
      await bob.waitForMessage(warm);

      redis.proc.kill('SIGSTOP');
      const silent = uniqueText('into the silence');
      let resumed = false;
      try {
        assert.equal((await alice.send(silent)).ok, true, 'accepted by its server');
        await waitUntil('the watchdog replaces the connection', () => /redis pub unresponsive/.test(a.stdout), 5000);
        // silent a while longer, as a link cut for seconds is: the new connection is made and waits too
        await sleep(1000);
      } finally {
        redis.proc.kill('SIGCONT');
        resumed = true;
      }
      assert.ok(resumed);
      for (const app of [a, b]) await waitUntil(`${app.node} linked again`, async () => (await app.health()).redis === 'connected', 10_000);
      const after = uniqueText('after');
      assert.equal((await alice.send(after)).ok, true);
      await bob.waitForMessage(after, 5000);
      if (backplane === 'streams') await bob.waitForMessage(silent, 5000);
      await sleep(500);
      const count = bob.count(silent);
      if (backplane === 'pubsub') assert.ok(count <= 1, `pub/sub delivered it ${count} times`);
      else assert.equal(count, 1, `streams delivered it ${count} times`);
      const order = bob.messages.map((m) => m.text).filter((t) => t === silent || t === after);
      if (count === 1) assert.deepEqual(order, [silent, after], 'in the order alice sent them');
      assert.equal(alice.count(silent), 1, 'once on its own server');
    });
  }
});
