/**
 * A Redis Cluster backplane on netns, end to end (issue 13 part 2, 198.18.180.0/24): three
 * redis machines (3 masters, no replicas) and two web machines. create, deploy: only the first
 * node builds Redis, the other two install that build from the build cache; the cluster is formed
 * with redis-cli --cluster create; every node wants the password and says cluster_state:ok, the
 * three masters serve all 16384 slots; the cluster bus is closed to anything but the redis
 * machines; status and plan show the cluster; a second deploy changes nothing; verify passes;
 * teardown leaves nothing.
 *
 * Redis is the host's own redis-server (7.0.15) from a "prebuilt" source tarball
 * (test/helpers/fake-redis-source.ts), as lb.test.ts does: no minute of compiling. Root only.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeResult, type CliResult } from '../helpers/cli.js';
import { createClusterLab } from '../helpers/cluster-lab.js';
import type { LabFixture } from '../helpers/lab.js';
import { readNodeView, CLUSTER_SLOTS } from '../../src/verify/cluster-probe.js';
import { pingRedis } from '../../src/verify/redis-probe.js';

const json = (r: CliResult) => JSON.parse(r.stdout) as any;
const NODES = ['redis1', 'redis2', 'redis3'];

/** Does a TCP connection from the host open within ms? false when dropped or refused. */
function connects(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

describe('Redis Cluster backplane on netns: create, deploy, verify, teardown', { timeout: 400_000 }, () => {
  let lab: LabFixture;
  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await lab.cli(args, { timeoutMs });
    assert.equal(r.code, 0, describeResult(r));
    return r;
  };
  // a netns machine's files are under its folder on the host
  const password = () => readFileSync(path.join(lab.dir, 'machines/redis1/etc/redis/password'), 'utf8').trim();

  before(async () => {
    lab = await createClusterLab({ subnet: '198.18.180.0/24', prefix: 'cl', replicasPerMaster: 0 });
  });

  after(async () => {
    const forced = lab ? await lab.cleanup() : [];
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  test('plan lists the three nodes, the masters, and the cluster to form', async () => {
    const r = await ok(['plan']);
    assert.match(r.stdout, /redis cluster: masters redis1 198\.18\.180\.10, redis2 198\.18\.180\.11, redis3 198\.18\.180\.12, no replicas; port 6379, bus 16379/);
    for (const n of NODES) assert.match(r.stdout, new RegExp(`${n}: redis-server running`));
    assert.match(r.stdout, /Redis Cluster: 3 masters over redis1, redis2, redis3 \(redis-cli --cluster create\)/);
    const j = json(await ok(['plan', '--json']));
    assert.deepEqual(j.redis.masters.map((m: { name: string }) => m.name), NODES);
  });

  test('create and deploy: redis1 builds, redis2 and redis3 install from the build cache, the cluster is formed', async () => {
    await lab.create();
    const started = Date.now();
    const deploy = json(await ok(['deploy', '--json'], 240_000));
    console.log(`deploy of a 3-node cluster + 2 web: ${Date.now() - started} ms`);
    assert.ok(deploy.applied.includes('redis-cluster:create'), JSON.stringify(deploy.applied));
    const steps = lab.readState().steps;
    assert.equal(steps['redis:redis1:build'].info.from, 'source', JSON.stringify(steps['redis:redis1:build']));
    for (const n of ['redis2', 'redis3']) assert.equal(steps[`redis:${n}:build`].info.from, 'cache', `${n}: ${JSON.stringify(steps[`redis:${n}:build`])}`);
    console.log(`shards: ${steps['redis-cluster:create'].info.shards}`);
  });

  test('every node: the password required, cluster_state ok, 3 known nodes; the masters serve all 16384 slots', async () => {
    const pass = password();
    assert.ok(pass.length >= 20);
    let slots = 0;
    for (const n of NODES) {
      const host = lab.ip(n);
      assert.match(await pingRedis({ host, port: 6379 }), /NOAUTH/, `${n} answers without the password`);
      const view = await readNodeView({ host, port: 6379, password: pass });
      assert.equal(view.info.cluster_state, 'ok', n);
      assert.equal(view.info.cluster_known_nodes, '3', n);
      const self = view.nodes.find((x) => x.flags.includes('myself'))!;
      assert.equal(self.addr, `${host}:6379`, `${n} announces its lab address`);
      assert.ok(self.flags.includes('master'), `${n} is a master`);
      slots += self.slots;
    }
    assert.equal(slots, CLUSTER_SLOTS);
  });

  test('the cluster bus is open between the redis machines only; the client port to the lab', async () => {
    // the host is on the lab network (the gateway), not a redis machine: the bus drops it
    assert.equal(await connects(lab.ip('redis1'), 16379, 1500), false, 'the host reached redis1\'s cluster bus');
    assert.equal(await connects(lab.ip('redis1'), 6379, 1500), true, 'the host cannot reach redis1\'s client port');
    // the nodes agreed over the bus, so it is open between them: shown by cluster_state above
  });

  test('status shows the cluster ok, each master with its slots', async () => {
    const r = await ok(['status']);
    assert.match(r.stdout, /redis cluster: ok: redis1 \(\d+ slots\), redis2 \(\d+ slots\), redis3 \(\d+ slots\)/);
    const j = json(await ok(['status', '--json']));
    assert.equal(j.redisCluster.ok, true);
    assert.deepEqual(j.redisCluster.nodes.map((n: { name: string; role: string }) => `${n.name} ${n.role}`), ['redis1 master', 'redis2 master', 'redis3 master']);
  });

  test('a second deploy changes nothing', async () => {
    const again = json(await ok(['deploy', '--json'], 120_000));
    assert.deepEqual(again.applied, []);
  });

  test('verify: the cluster checks pass', async () => {
    const r = await lab.cli(['verify', '--messages', '5', '--json'], { timeoutMs: 120_000 });
    const report = json(r);
    const cluster = report.checks.filter((c: { name: string }) => c.name.startsWith('Redis Cluster:'));
    for (const c of report.checks) console.log(`${c.ok ? 'pass' : 'FAIL'} ${c.name}: ${c.reason}`);
    assert.equal(cluster.length, 4, JSON.stringify(cluster));
    for (const c of cluster) assert.equal(c.ok, true, `${c.name}: ${c.reason}`);
  });

  test('verify: every check passes (delivery across the web nodes through the cluster)', async () => {
    const r = await lab.cli(['verify', '--messages', '5', '--json'], { timeoutMs: 120_000 });
    const report = json(r);
    const failed = report.checks.filter((c: { ok: boolean }) => !c.ok);
    assert.deepEqual(failed, []);
    assert.equal(r.code, 0, describeResult(r));
  });

  test('labctl redis-cli on a cluster: the first node, following a key to the node that serves its slot', async () => {
    assert.match((await ok(['redis-cli', 'CLUSTER', 'INFO'])).stdout, /cluster_state:ok/);
    // "foo" hashes to slot 12182: redis3's, not redis1's, so only a redirect gets there
    assert.match((await ok(['redis-cli', 'SET', 'foo', 'bar'])).stdout, /OK/);
    assert.match((await ok(['redis-cli', 'GET', 'foo'])).stdout, /bar/);
    assert.match((await ok(['redis-cli', 'DEL', 'foo'])).stdout, /1/);
  });

  test('checkpoint save -> a key deleted -> restore: the key is back on the node that serves its slot, verify passes', async () => {
    assert.match((await ok(['redis-cli', 'SET', 'foo', 'kept'])).stdout, /OK/);
    await ok(['checkpoint', 'save', 'c1', '--json'], 120_000);
    // foo is redis3's: its node saved its own data
    assert.ok(existsSync(path.join(lab.dir, 'checkpoints/c1/machines/redis3/var/lib/redis/dump.rdb')), 'redis3 saved its data into the checkpoint');
    assert.match((await ok(['redis-cli', 'DEL', 'foo'])).stdout, /1/);
    const restored = json(await ok(['checkpoint', 'restore', 'c1', '--messages', '5', '--json'], 180_000));
    assert.equal(restored.verify.ok, true, JSON.stringify(restored.verify.checks.filter((c: { ok: boolean }) => !c.ok)));
    assert.equal((await ok(['redis-cli', 'GET', 'foo'])).stdout.trim(), 'kept');
    await ok(['redis-cli', 'DEL', 'foo']);
    await ok(['checkpoint', 'remove', 'c1']);
  });

  test('stop and start: every node comes back as the same node (nodes.conf), start returns with the cluster ok, verify passes', async () => {
    const ids = async () => Promise.all(NODES.map(async (n) => (await readNodeView({ host: lab.ip(n), port: 6379, password: password() })).nodes.find((x) => x.flags.includes('myself'))!.id));
    const before = await ids();
    await ok(['stop'], 60_000);
    const started = Date.now();
    await ok(['start'], 120_000);
    console.log(`start: ${Date.now() - started} ms`);
    // start waited for the cluster (its forming step): ok at once, no polling
    const status = json(await ok(['status', '--json']));
    assert.equal(status.redisCluster.ok, true, status.redisCluster.summary);
    assert.deepEqual(await ids(), before, 'each node kept its cluster id');
    const v = await lab.cli(['verify', '--messages', '5', '--json'], { timeoutMs: 120_000 });
    assert.deepEqual(json(v).checks.filter((c: { ok: boolean }) => !c.ok), []);
  });

  test('teardown removes every node: nothing left', async () => {
    await lab.teardown();
    assert.deepEqual(lab.leftovers(), []);
  });
});
