/**
 * verify's half for a Redis Cluster (engineer B, issue 13 part 2): against a real loopback
 * cluster (3 masters + 3 replicas, the chat user's cluster ACL on every node) and two real chat
 * bundles: the shard that carries the chat channel is the one Redis names for its slot, both
 * servers are subscribed there, every connection is the chat user, the user's limits hold on
 * every node, the sharded tap (verify and watch) decodes the chat messages, and after the
 * channel's master is killed the shard report names the promoted replica and the tap follows it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildBundle, Harness, sleep, uniqueText, waitUntil, type AppProcess } from '../helpers/app-harness.js';
import { LoopbackCluster } from '../helpers/redis-cluster.js';
import { CHAT_USER, chatAclRules } from '../../src/roles/redis/acl.js';
import type { BackplaneMessage } from '../../src/verify/backplane.js';
import { findChannelShard, shardedChannel, type ClusterMember } from '../../src/verify/channel-shard.js';
import { clusterChatUserCheck, clusterConnectionsCheck, shardCheck, shardSubscribers } from '../../src/verify/cluster-backplane.js';
import { ShardTap } from '../../src/verify/shard-tap.js';

const CHANNEL = 'ChatApp';

describe('verify on a Redis Cluster: the chat channel\'s shard, subscribers, connections, the sharded tap', { timeout: 120_000 }, () => {
  const h = new Harness();
  const chat = randomBytes(18).toString('base64url');
  let cluster: LoopbackCluster;
  let members: ClusterMember[];
  let web1: AppProcess;
  let web2: AppProcess;
  const taps: ShardTap[] = [];

  before(async () => {
    await buildBundle();
    cluster = await LoopbackCluster.start({ masters: 3, replicasPerMaster: 1, chatRules: chatAclRules(CHANNEL, chat, 'pubsub', 'cluster') });
    members = cluster.nodes.map((n, i) => ({ name: `redis${i + 1}`, host: '127.0.0.1', port: n.port }));
    const env = { REDIS_TOPOLOGY: 'cluster', REDIS_NODES: cluster.seeds, REDIS_USERNAME: CHAT_USER, REDIS_PASSWORD_FILE: h.passwordFile(chat), CHANNEL, REDIS_WATCHDOG_MS: '2000' };
    [web1, web2] = await Promise.all([h.startApp({ NODE_NAME: 'web1', ...env }), h.startApp({ NODE_NAME: 'web2', ...env })]);
    for (const app of [web1, web2]) await waitUntil(`${app.node} connected to the cluster`, async () => (await app.health()).redis === 'connected', 15_000);
  });
  after(async () => {
    await Promise.allSettled(taps.map((t) => t.stop()));
    await h.cleanup();
    await cluster?.cleanup();
  });

  it('names the shard Redis serves the channel\'s slot from, with its replica', async () => {
    const truth = await cluster.shardOf(shardedChannel(CHANNEL));
    const { check, shard } = await shardCheck(members, CHANNEL, cluster.admin, true);
    assert.equal(check.ok, true, check.reason);
    assert.equal(shard!.slot, truth.slot);
    assert.equal(shard!.master.addr, `127.0.0.1:${truth.master}`);
    assert.deepEqual(shard!.replicas.map((r) => r.addr), truth.replicas.map((p) => `127.0.0.1:${p}`));
    assert.match(check.reason, new RegExp(`^ChatApp#/# \\(slot ${truth.slot}\\) on redis\\d 127\\.0\\.0\\.1:${truth.master} .*replica redis\\d \\((online|loading)\\)$`));
  });

  it('counts both servers subscribed on the shard, and every connection is user chat', async () => {
    // the servers connect to a shard for publishing on their first message there
    const [a, b] = await Promise.all([h.joinedClient(web1, 'alice'), h.joinedClient(web2, 'bob')]);
    const text = uniqueText('conns');
    await a.send(text);
    await b.waitForMessage(text);
    assert.equal((await b.send(`${text} back`)).ok, true);
    await a.waitForMessage(`${text} back`);
    a.close();
    b.close();
    const shard = await findChannelShard(members, CHANNEL, cluster.admin);
    assert.equal(await shardSubscribers(cluster.admin, shard), 2);
    const ok = await clusterConnectionsCheck(members, cluster.admin, ['web1', 'web2'], shard);
    assert.equal(ok.ok, true, ok.reason);
    // and it can fail: a web node that is not there is named
    const missing = await clusterConnectionsCheck(members, cluster.admin, ['web1', 'web2', 'web3'], shard);
    assert.equal(missing.ok, false);
    assert.match(missing.reason, /web3: no publishing connection/);
  });

  it('the chat user\'s limits hold on every node', async () => {
    const c = await clusterChatUserCheck(members, CHANNEL, 'pubsub', cluster.admin);
    assert.equal(c.ok, true, c.reason);
    assert.match(c.reason, /^6 nodes: ACL DRYRUN refuses/);
  });

  it('the sharded tap sees the chat messages, decoded, and follows the channel to a promoted replica', async () => {
    const tap = new ShardTap(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), cluster.admin, CHANNEL);
    taps.push(tap);
    const seen: BackplaneMessage[] = [];
    tap.onMessage((m) => seen.push(m));
    await tap.start();
    const [a, b] = await Promise.all([h.joinedClient(web1, 'alice'), h.joinedClient(web2, 'bob')]);
    const text = uniqueText('tap');
    assert.equal((await a.send(text)).ok, true);
    await b.waitForMessage(text);
    const m = await waitUntil('the tap to see the message', () => seen.find((x) => x.chats?.some((c) => c.text === text)));
    assert.equal(m.kind, 'broadcast');
    assert.equal(m.channel, 'ChatApp#/#');
    assert.equal(m.chats![0]!.origin, 'web1');

    const before = await findChannelShard(members, CHANNEL, cluster.admin);
    await cluster.kill(Number(before.master.addr.split(':')[1]));
    const after = await waitUntil(
      'the shard report to name the promoted replica',
      async () => {
        const s = await findChannelShard(members, CHANNEL, cluster.admin).catch(() => undefined);
        return s && s.master.addr !== before.master.addr ? s : undefined;
      },
      20_000,
    );
    assert.equal(after.master.addr, before.replicas[0]!.addr);
    for (const app of [web1, web2]) await waitUntil(`${app.node} connected again`, async () => (await app.health()).redis === 'connected', 20_000);
    // pub/sub is at most once: a message published while the servers still follow the promotion
    // may be lost, so each try is a new message; one of them must reach web2 and the tap
    const tries: string[] = [];
    await waitUntil(
      'a message after the failover to reach web2 and the tap',
      async () => {
        if (tries.some((t) => b.count(t) > 0 && seen.some((x) => x.chats?.some((c) => c.text === t)))) return true;
        const t = uniqueText('tap-after');
        tries.push(t);
        await a.send(t);
        await sleep(200);
        return false;
      },
      15_000,
    );
    console.log(`# after the failover: ${tries.length} message(s) sent before one reached web2 and the tap`);
    assert.equal(tries.length, 1, 'once the servers say connected, the first message crosses (the publisher follows the promotion too)');
    assert.equal(await shardSubscribers(cluster.admin, after), 3, 'both servers and the tap subscribed on the promoted replica');
    await tap.stop();
    await waitUntil('the tap\'s subscription gone', async () => (await shardSubscribers(cluster.admin, after)) === 2);
    a.close();
    b.close();
  });
});
