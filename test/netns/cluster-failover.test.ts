/**
 * A Redis Cluster with replicas on netns, end to end (issue 13 part 2, engineer B, 198.18.181.0/24):
 * 3 masters + 3 replicas and two web machines. up: only redis1 builds, the others install from the
 * build cache; verify passes with the chat going through the sharded channel's shard (named with
 * its slot and replica); watch follows the sharded channel; verify --fault redis-failover kills the
 * channel's master, its replica is promoted and delivery resumes (gap and losses reported, nothing
 * twice or out of order); the killed node comes back as a replica and a plain verify passes again;
 * teardown leaves nothing.
 *
 * Redis is the host's own redis-server (7.0.15) from a "prebuilt" source tarball
 * (test/helpers/fake-redis-source.ts): no minute of compiling. Root only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeResult, waitForChild, type CliResult } from '../helpers/cli.js';
import { createClusterLab } from '../helpers/cluster-lab.js';
import type { LabFixture } from '../helpers/lab.js';

const json = (r: CliResult) => JSON.parse(r.stdout) as any;
const REDIS = ['redis1', 'redis2', 'redis3', 'redis4', 'redis5', 'redis6'];

describe('Redis Cluster with replicas on netns: verify, watch, verify --fault redis-failover', { timeout: 600_000 }, () => {
  let lab: LabFixture;
  let shardBefore: any;

  before(async () => {
    lab = await createClusterLab({ subnet: '198.18.181.0/24', prefix: 'cf', replicasPerMaster: 1 });
  });

  after(async () => {
    const forced = lab ? await lab.cleanup() : [];
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  test('create and deploy: one node builds Redis, the five others install it from the build cache', async () => {
    await lab.create();
    const started = Date.now();
    const r = await lab.cli(['deploy', '--json'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, describeResult(r));
    console.log(`# deploy of 3 masters + 3 replicas + 2 web: ${Date.now() - started} ms`);
    const steps = lab.readState().steps;
    const from = REDIS.map((n) => steps[`redis:${n}:build`]?.info?.from);
    assert.deepEqual(from, ['source', 'cache', 'cache', 'cache', 'cache', 'cache'], JSON.stringify(from));
  });

  test('verify: every check passes; the shard carrying the chat channel is named with its slot and replica', async () => {
    const r = await lab.cli(['verify', '--messages', '10', '--json'], { timeoutMs: 180_000 });
    const report = json(r);
    for (const c of report.checks) console.log(`# ${c.ok ? 'pass' : 'FAIL'} ${c.name}: ${c.reason}`);
    assert.deepEqual(report.checks.filter((c: { ok: boolean }) => !c.ok), []);
    assert.equal(r.code, 0, describeResult(r));
    shardBefore = report.shard;
    assert.equal(shardBefore.channel, 'ChatApp#/#');
    assert.ok(REDIS.includes(shardBefore.master.name), JSON.stringify(shardBefore));
    assert.equal(shardBefore.replicas.length, 1);
    const shardCheck = report.checks.find((c: { name: string }) => c.name === 'the chat channel\'s shard');
    assert.match(shardCheck.reason, new RegExp(`^ChatApp#/# \\(slot ${shardBefore.slot}\\) on ${shardBefore.master.name} ${shardBefore.master.addr.replace(/\./g, '\\.')} `));
    assert.equal(report.delivery.lost, 0);
    assert.ok(report.delivery.perNode.every((n: { received: number; expected: number }) => n.received === n.expected));
    assert.match(report.checks.find((c: { name: string }) => c.name === 'backplane carries the messages').reason, /ChatApp#\/# \(sharded\) via redis\d from web1, web2; 2 servers subscribed/);
  });

  test('watch follows the sharded channel: the chat messages of a verify, decoded', async () => {
    const watch = lab.start(['watch', '--count', '3', '--for', '60', '--json']);
    // listened to from the start: watch may end (its 3 messages seen) before verify does
    const watched = waitForChild(watch, 90_000);
    try {
      // let the tap subscribe before messages flow
      await new Promise((r) => setTimeout(r, 1500));
      const v = await lab.cli(['verify', '--messages', '5', '--json'], { timeoutMs: 180_000 });
      assert.equal(v.code, 0, describeResult(v));
      const w = await watched;
      assert.equal(w.code, 0, describeResult(w));
      const lines = w.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(lines.length, 3, w.stdout);
      for (const m of lines) {
        assert.equal(m.channel, 'ChatApp#/#');
        assert.equal(m.kind, 'broadcast');
        assert.ok(m.chats?.[0]?.text?.startsWith('verify '), JSON.stringify(m));
      }
    } finally {
      watch.kill('SIGKILL');
    }
  });

  test('verify --fault redis-failover: the channel\'s master killed, its replica promoted, delivery resumes', async () => {
    const r = await lab.cli(['verify', '--fault', 'redis-failover', '--json'], { timeoutMs: 240_000 });
    const report = json(r);
    for (const c of report.checks) console.log(`# ${c.ok ? 'pass' : 'FAIL'} ${c.name}: ${c.reason}`);
    console.log(`# fault: ${report.fault?.fault?.detail ?? JSON.stringify(report.fault)}`);
    for (const n of report.fault?.perNode ?? []) {
      console.log(`# ${n.node}: expected ${n.expected} received ${n.received} lost ${n.lost} duplicated ${n.duplicated} out of order ${n.outOfOrder} gap ${n.outageMs} ms recovery ${n.recoveryMs} ms`);
    }
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(report.fault.ok, true, report.fault.reason);
    assert.equal(report.fault.fault.kind, 'redis-failover');
    assert.equal(report.fault.fault.target, shardBefore.master.name, 'the channel\'s master was the one killed');
    assert.match(report.fault.fault.detail, new RegExp(`${shardBefore.replicas[0].name} promoted after \\d+ ms`));
    for (const n of report.fault.perNode) {
      assert.equal(n.duplicated, 0, `${n.node} duplicated`);
      assert.equal(n.outOfOrder, 0, `${n.node} out of order`);
      assert.ok(n.recoveryMs !== null && n.recoveryMs <= 5000, `${n.node} recovered ${n.recoveryMs} ms after the failover`);
      assert.ok(n.outageMs > 0, `${n.node} saw a gap`);
    }
    assert.equal(report.shard.master.name, shardBefore.replicas[0].name, 'the replica serves the channel now');
  });

  test('the killed node is back as a replica: a plain verify passes again', async () => {
    let last: CliResult | undefined;
    // the old master rejoins and syncs from the new one: give the cluster a few seconds
    for (let i = 0; i < 10; i++) {
      last = await lab.cli(['verify', '--messages', '5', '--json'], { timeoutMs: 180_000 });
      if (last.code === 0) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const report = json(last!);
    for (const c of report.checks.filter((c: { ok: boolean }) => !c.ok)) console.log(`# FAIL ${c.name}: ${c.reason}`);
    assert.equal(last!.code, 0, describeResult(last!));
    assert.equal(report.shard.replicas[0].name, shardBefore.master.name, 'the old master is the new master\'s replica');
  });

  test('teardown removes every node: nothing left', async () => {
    await lab.teardown();
    assert.deepEqual(lab.leftovers(), []);
  });
});
