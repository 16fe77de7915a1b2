/**
 * templates/redis/cluster-create.sh against six real redis-server processes on loopback (Debian's
 * 7.0.15), each started with the config labctl writes on a cluster node (templates/redis/redis.conf
 * + cluster.conf, rendered by the role's own functions): the masters are the first three, each
 * replica follows master (i mod 3) and its link comes up (masteruser/masterauth work); a run cut
 * short is resumed — masters already holding the slots are not created again, a replica that met
 * the cluster but never got its CLUSTER REPLICATE is attached — a further run changes nothing, and
 * after a failover (a master killed, its replica promoted, the old master back as a replica) a run
 * finds the cluster whole instead of trying to put the roles back.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort, RedisProcess, waitUntil } from '../helpers/app-harness.js';
import { chatAclRules } from '../../src/roles/redis/acl.js';
import { clusterConfigSection } from '../../src/roles/redis/cluster-config.js';
import type { LabSpec, MachineSpec } from '../../src/spec/types.js';
import { renderTemplate, templatePath } from '../../src/util/template.js';
import { parseClusterNodes, readNodeView } from '../../src/verify/cluster-probe.js';
import { pingRedis, withRedis } from '../../src/verify/redis-probe.js';

const run = promisify(execFile);
const PASSWORD = 'cluster-test-admin-password-0123456789';
const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-cluster-create-'));
const nodes: { name: string; port: number; bus: number; proc: RedisProcess }[] = [];

/** The config labctl writes on a cluster node, on loopback with a free bus port. */
function nodeConfig(name: string, port: number, bus: number): string {
  const spec = { name: 'loopback' } as LabSpec;
  const m = { name, ip: '127.0.0.1' } as MachineSpec;
  const base = renderTemplate('redis/redis.conf', {
    lab: 'loopback',
    bind: '127.0.0.1',
    port,
    password: PASSWORD,
    chatUser: 'chat',
    chatRules: chatAclRules('ChatApp', 'chat-password', 'pubsub', 'cluster'),
    daemonize: 'no',
    supervised: 'no',
    pidfile: path.join(dir, `${name}.pid`),
    logfile: path.join(dir, `${name}.log`),
    dir: path.join(dir, name),
  });
  // port + 10000 may be taken on this host: the bus gets a free port of its own here
  return `${base}${clusterConfigSection(spec, m, PASSWORD)}cluster-port ${bus}\n`;
}

async function createScript(list: typeof nodes, masters: number) {
  const passfile = path.join(dir, 'password');
  writeFileSync(passfile, PASSWORD, { mode: 0o600 });
  const args = ['redis-cli', passfile, String(masters), '20', ...list.map((n) => `127.0.0.1:${n.port}`)];
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn('sh', ['-s', '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(readFileSync(templatePath('redis/cluster-create.sh')));
  });
}

const view = (n: (typeof nodes)[number]) => readNodeView({ host: '127.0.0.1', port: n.port, password: PASSWORD });

/** "redis4 -> redis1" for each replica, as node 0 sees the cluster; masters listed alone. */
async function layout(): Promise<string[]> {
  const v = await view(nodes[0]!);
  const byAddr = new Map(nodes.map((n) => [`127.0.0.1:${n.port}`, n.name]));
  return v.nodes
    .map((x) => (x.masterId ? `${byAddr.get(x.addr)} -> ${byAddr.get(v.nodes.find((m) => m.id === x.masterId)!.addr)}` : `${byAddr.get(x.addr)} master ${x.slots}`))
    .sort();
}

describe('cluster-create.sh on six loopback nodes with labctl\'s cluster config', { timeout: 120_000 }, () => {
  before(async () => {
    for (let i = 1; i <= 6; i++) {
      const name = `redis${i}`;
      const [port, bus] = [await freePort(), await freePort()];
      const conf = path.join(dir, `${name}.conf`);
      await run('mkdir', ['-p', path.join(dir, name)]);
      writeFileSync(conf, nodeConfig(name, port, bus), { mode: 0o600 });
      const proc = new RedisProcess(spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] }), port, PASSWORD);
      nodes.push({ name, port, bus, proc });
      await waitUntil(`${name} to answer`, async () => (await pingRedis({ host: '127.0.0.1', port, password: PASSWORD }, 500)) === 'PONG', 5000);
    }
  });

  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.proc.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the first run, cut short after the masters: three masters over all 16384 slots', async () => {
    const r = await createScript(nodes.slice(0, 3), 3);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(await layout(), ['redis1 master 5461', 'redis2 master 5462', 'redis3 master 5461']);
  });

  test('resumed with all six: masters kept, each replica on master (i mod 3), one of them only met the cluster before', async () => {
    // redis4 met the cluster, but its CLUSTER REPLICATE never came (a run cut off in add-node)
    await withRedis({ host: '127.0.0.1', port: nodes[3]!.port, password: PASSWORD }, (c) => c.call('CLUSTER', 'MEET', '127.0.0.1', String(nodes[0]!.port), String(nodes[0]!.bus)));
    await waitUntil('redis4 to know the cluster', async () => Number((await view(nodes[3]!)).info.cluster_known_nodes) > 1, 10_000);
    const r = await createScript(nodes, 3);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /the masters already hold all 16384 slots/);
    assert.match(r.stdout, /cluster formed: 3 masters, 3 replicas/);
    assert.deepEqual(await layout(), ['redis1 master 5461', 'redis2 master 5462', 'redis3 master 5461', 'redis4 -> redis1', 'redis5 -> redis2', 'redis6 -> redis3']);
    for (const n of nodes.slice(3)) {
      const info = await withRedis({ host: '127.0.0.1', port: n.port, password: PASSWORD }, (c) => c.info('replication'));
      assert.match(info, /master_link_status:up/, `${n.name}'s link to its master (masterauth)`);
    }
    for (const n of nodes) assert.equal((await view(n)).info.cluster_state, 'ok', n.name);
  });

  test('a further run changes nothing', async () => {
    const before = (await view(nodes[0]!)).nodes.map((n) => `${n.id} ${n.masterId ?? '-'} ${n.slots}`).sort();
    const r = await createScript(nodes, 3);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /the masters already hold all 16384 slots/);
    assert.equal((r.stdout.match(/is in the cluster already/g) ?? []).length, 3, r.stdout);
    assert.deepEqual((await view(nodes[0]!)).nodes.map((n) => `${n.id} ${n.masterId ?? '-'} ${n.slots}`).sort(), before);
  });

  test('after a failover (redis1 killed, redis4 promoted, redis1 back as its replica) a run finds the cluster whole', async () => {
    const n1 = nodes[0]!;
    await n1.proc.stop('SIGKILL');
    // cluster-node-timeout (5 s, cluster.conf), then the replica's election
    await waitUntil('redis4 to be promoted', async () => (await view(nodes[3]!)).nodes.find((x) => x.flags.includes('myself'))!.flags.includes('master'), 30_000);
    n1.proc = new RedisProcess(spawn('redis-server', [path.join(dir, 'redis1.conf')], { stdio: ['ignore', 'pipe', 'pipe'] }), n1.port, PASSWORD);
    await waitUntil('redis1 to follow redis4', async () => {
      const me = (await view(n1).catch(() => undefined))?.nodes.find((x) => x.flags.includes('myself'));
      return me?.masterId !== undefined;
    }, 20_000);
    const r = await createScript(nodes, 3);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal((r.stdout.match(/is in the cluster already/g) ?? []).length, 3, r.stdout);
    assert.deepEqual(await layout(), ['redis1 -> redis4', 'redis2 master 5462', 'redis3 master 5461', 'redis4 master 5461', 'redis5 -> redis2', 'redis6 -> redis3']);
  });

  test('CLUSTER NODES parsing: slots of ranges and single slots, replicas, link state', () => {
    const parsed = parseClusterNodes(
      'a1 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460 6000\n' + 'b2 10.0.0.2:6379@16379,host2 slave a1 0 1 1 connected\n' + 'c3 10.0.0.3:6379@16379 master,fail - 0 1 2 disconnected [100->-b2]\n',
    );
    assert.deepEqual(parsed.map((n) => [n.id, n.addr, n.masterId ?? '-', n.slots, n.connected]), [
      ['a1', '10.0.0.1:6379', '-', 5462, true],
      ['b2', '10.0.0.2:6379', 'a1', 0, true],
      ['c3', '10.0.0.3:6379', '-', 0, false],
    ]);
  });
});
