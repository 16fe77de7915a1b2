/**
 * The cluster link's watchdog (src/app/redis-cluster-link.ts): the shard that carries the chat
 * channel frozen with SIGSTOP (a paused VM, a silent link: no reset, no error) past
 * REDIS_WATCHDOG_MS. The app must stop claiming "connected", drop the silent connections, and
 * once the node answers again be connected and delivering by itself, with no unhandled
 * rejection; and a message sent into the silence reaches the other server at most once.
 * A loopback cluster of 3 masters whose node timeout is long enough that the freeze is not a
 * failure to the cluster (no failover: the same node comes back).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildBundle, Harness, sleep, uniqueText, waitUntil, type AppProcess } from '../helpers/app-harness.js';
import { LoopbackCluster } from '../helpers/redis-cluster.js';

describe('a cluster shard frozen past the watchdog', { timeout: 90_000 }, () => {
  const h = new Harness();
  let cluster: LoopbackCluster;
  let web1: AppProcess;
  let web2: AppProcess;

  before(async () => {
    await buildBundle();
    cluster = await LoopbackCluster.start({ masters: 3, replicasPerMaster: 0, nodeTimeoutMs: 30_000 });
    const env = { REDIS_TOPOLOGY: 'cluster', REDIS_NODES: cluster.seeds, REDIS_PASSWORD_FILE: h.passwordFile(cluster.admin), CHANNEL: 'ChatApp', REDIS_WATCHDOG_MS: '500' };
    [web1, web2] = await Promise.all([h.startApp({ NODE_NAME: 'web1', ...env }), h.startApp({ NODE_NAME: 'web2', ...env })]);
    for (const app of [web1, web2]) await waitUntil(`${app.node} connected`, async () => (await app.health()).redis === 'connected', 15_000);
  });
  after(async () => {
    await h.cleanup();
    await cluster?.cleanup();
  });

  it('notices, reconnects once the node answers, and delivers at most once', async () => {
    const [alice, bob] = await Promise.all([h.joinedClient(web1, 'alice'), h.joinedClient(web2, 'bob')]);
    const warm = uniqueText('warm');
    assert.equal((await alice.send(warm)).ok, true);
    await bob.waitForMessage(warm);

    const shard = await cluster.shardOf('ChatApp#/#');
    const frozen = cluster.node(shard.master).process.proc;
    frozen.kill('SIGSTOP');
    const silent = uniqueText('into the silence');
    try {
      assert.equal((await alice.send(silent)).ok, true, 'accepted by its server');
      for (const app of [web1, web2]) await waitUntil(`${app.node} stops claiming connected`, async () => (await app.health()).redis !== 'connected', 5000);
      await waitUntil('the watchdog drops a silent connection', () => /unresponsive for \d+ ms, reconnecting/.test(web1.stdout + web2.stdout), 5000);
      await sleep(1000);
    } finally {
      frozen.kill('SIGCONT');
    }
    for (const app of [web1, web2]) await waitUntil(`${app.node} connected again`, async () => (await app.health()).redis === 'connected', 20_000);
    const after = uniqueText('after');
    await waitUntil(
      'a message after the thaw to cross',
      async () => {
        if (alice.count(after) === 0) await alice.send(after);
        return bob.count(after) > 0;
      },
      10_000,
    );
    await sleep(500);
    assert.ok(bob.count(silent) <= 1, `the message sent into the silence came ${bob.count(silent)} times`);
    assert.equal(bob.count(after), 1);
    for (const app of [web1, web2]) {
      assert.equal(app.running, true);
      assert.doesNotMatch(app.stdout + app.stderr, /unhandled rejection/, app.node);
    }
    alice.close();
    bob.close();
  });
});
