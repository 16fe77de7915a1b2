/**
 * The load balancer (role lb) on netns, end to end (198.18.160.0/24): a lab of redis, three web
 * machines and an lb comes up; HAProxy (the host's /usr/sbin/haproxy, run in the lb's namespace)
 * spreads clients opened on its address over every web node, and they see each other's messages;
 * a second deploy changes nothing, and a changed config reloads HAProxy without cutting an open
 * WebSocket; verify --browser opens its windows there; with one web node's app killed, its health checks take it out of the rotation within
 * their interval and chat through the balancer goes on; teardown leaves nothing.
 *
 * Redis is the host's own redis-server installed from a "prebuilt" source tarball
 * (test/helpers/fake-redis-source.ts), as living.test.ts does: no minute of compiling. Root only.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeResult, type CliResult } from '../helpers/cli.js';
import { prebuiltRedisTarball } from '../helpers/fake-redis-source.js';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { readPid } from '../../src/providers/netns/host.js';
import { CHECK_FALL, CHECK_INTERVAL_MS } from '../../src/roles/lb/config.js';
import { ChatClient } from '../../src/verify/chat-client.js';
import { checkThroughLb } from '../../src/verify/lb.js';
import { sleep } from '../../src/util/time.js';

const json = (r: CliResult) => JSON.parse(r.stdout) as any;
const WEBS = ['web1', 'web2', 'web3'];

/** HAProxy's view of each chat server ("show stat" on its stats socket): name → UP / DOWN / ... */
function serverStates(socket: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let out = '';
    const c = net.createConnection(socket, () => c.end('show stat\n'));
    c.setTimeout(2000, () => c.destroy(new Error('no answer from the stats socket within 2 s')));
    c.on('data', (d) => (out += d.toString('utf8')));
    c.on('error', reject);
    c.on('close', () => {
      const [header, ...rows] = out.trim().split('\n');
      const cols = (header ?? '').replace(/^# /, '').split(',');
      const at = (name: string) => cols.indexOf(name);
      const states: Record<string, string> = {};
      for (const row of rows.map((r) => r.split(','))) {
        if (row[at('pxname')] === 'chat_servers' && WEBS.includes(row[at('svname')]!)) states[row[at('svname')]!] = row[at('status')]!;
      }
      resolve(states);
    });
  });
}

describe('load balancer on netns: spread, stickiness, cross-node chat, reload, a dead node taken out', { timeout: 300_000 }, () => {
  let lab: LabFixture;
  let sources: string;
  const file = (m: string, rel: string) => path.join(lab.dir, 'machines', m, rel);
  const lbUrl = () => `http://${lab.ip('lb')}`;
  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await lab.cli(args, { timeoutMs });
    assert.equal(r.code, 0, describeResult(r));
    return r;
  };

  before(async () => {
    sources = mkdtempSync(path.join(os.tmpdir(), 'labctl-lb-src-'));
    const tarball = prebuiltRedisTarball(sources);
    lab = await createLabFixture({
      subnet: '198.18.160.0/24',
      prefix: 'lb',
      machines: {
        redis: { role: 'redis', os: 'ubuntu' },
        web1: { role: 'web', os: 'ubuntu' },
        web2: { role: 'web', os: 'ubuntu' },
        web3: { role: 'web', os: 'ubuntu' },
        lb: { role: 'lb', os: 'ubuntu' },
      },
      patchSpec: (spec) => (spec.redis.source = { tarball }),
    });
  });

  after(async () => {
    const forced = lab ? await lab.cleanup() : [];
    if (sources) rmSync(sources, { recursive: true, force: true });
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  test('up: every check passes, the balancer\'s among them, and the lab\'s address for browsers is the lb\'s', async () => {
    const started = Date.now();
    const up = await ok(['up', '--messages', '5'], 150_000);
    lab.rememberNamespaces();
    console.log(`up with an lb: ${Date.now() - started} ms`);
    assert.match(up.stdout, /all \d+ checks passed/);
    assert.match(up.stdout, /clients through the load balancer reach every web node\s+pass\s+6 clients via http:\/\/198\.18\.160\.14:80: web1 2, web2 2, web3 2/);
    assert.match(up.stdout, /clients through the load balancer see each other's messages\s+pass\s+36\/36 messages received/);
    assert.match(up.stdout, /Open it in your browser through its load balancer \(lb\): http:\/\/198\.18\.160\.14\/\n/);
    const status = await ok(['status']);
    assert.match(status.stdout, /^lb\s+lb\s+ubuntu\s+198\.18\.160\.14\s+running$/m);
    assert.match(status.stdout, /open the lab in a browser at http:\/\/198\.18\.160\.14\/ \(load balancer lb\)/);
    assert.equal(json(await ok(['status', '--json'])).address, 'http://198.18.160.14/');
    assert.ok(readPid(file('lb', 'run/haproxy/haproxy.pid')), 'HAProxy runs with its pidfile in the lb machine');
  });

  test('clients through the balancer: round-robin over all three nodes, long-polling kept on one server by the cookie, messages cross nodes', async () => {
    const r = await checkThroughLb(lbUrl(), WEBS, 9);
    console.log(`through the lb: ${JSON.stringify(r.spread)}, ${r.received}/${r.expected} received, ${r.crossNode} cross-node`);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.spread, { web1: 3, web2: 3, web3: 3 });
    assert.equal(r.received, 81);
    assert.equal(r.crossNode, 54, 'each client got the 6 messages of the other two nodes\' clients');

    // without the cookie a long-polling session breaks as soon as round-robin sends its next
    // request elsewhere: the stickiness is what makes it work (and this check can fail)
    const bare = new ChatClient(lbUrl(), 'no-cookie', { cookies: false });
    try {
      await assert.rejects(bare.connect(3000));
    } finally {
      bare.close();
    }
  });

  test('a second deploy changes nothing; a changed config reloads HAProxy and an open WebSocket through it stays up', async () => {
    const again = json(await ok(['deploy', '--json'], 60_000));
    assert.deepEqual(again.applied, []);

    const client = new ChatClient(lbUrl(), 'survivor', { cookies: true });
    try {
      await client.connect(4000);
      await client.join('survivor');
      let dropped = false;
      client.socket.on('disconnect', () => (dropped = true));
      const pid = readPid(file('lb', 'run/haproxy/haproxy.pid'));
      // as if HAProxy ran another config: the service step must reload it
      writeFileSync(file('lb', 'run/haproxy/config.sha256'), 'another config\n');
      const reloaded = json(await ok(['deploy', '--json'], 60_000));
      assert.deepEqual(reloaded.applied, [`lb:lb:service`]);
      const newPid = readPid(file('lb', 'run/haproxy/haproxy.pid'));
      assert.ok(newPid && newPid !== pid, `a new HAProxy process (${pid} → ${newPid})`);
      const ack = await client.send('after the reload');
      assert.equal(ack.ok, true);
      assert.equal(dropped, false, 'the WebSocket opened before the reload is still up');
    } finally {
      client.close();
    }
  });

  test('verify --browser: both Chromium windows on the lb\'s address, each sees the other\'s messages', async (t) => {
    if (!existsSync(process.env.LABCTL_CHROMIUM ?? '/usr/bin/chromium')) return t.skip('no Chromium (scripts/install-system-deps.sh)');
    const r = json(await ok(['verify', '--browser', '--messages', '5', '--json'], 90_000));
    assert.equal(r.browser.ok, true, r.browser.reason);
    assert.deepEqual([...new Set(r.browser.exchanges.map((e: { from: string }) => e.from))].sort(), ['lb-1', 'lb-2']);
    for (const e of r.browser.exchanges) assert.equal(e.ok, true, JSON.stringify(e));
  });

  test('web2\'s app killed: the health checks take it out within their interval, new clients go to web1 and web3, chat goes on', async () => {
    const socket = file('lb', 'run/haproxy/stats.sock');
    assert.ok(existsSync(socket));
    // a freshly (re)loaded HAProxy shows "UP 1/2" until a server's first check passes: wait for all plain UP
    let states = await serverStates(socket);
    for (let i = 0; i < 50 && Object.values(states).some((s) => s !== 'UP'); i++) {
      await sleep(100);
      states = await serverStates(socket);
    }
    assert.deepEqual(states, { web1: 'UP', web2: 'UP', web3: 'UP' });
    const pid = readPid(file('web2', 'run/labctl-chat/app.pid'));
    assert.ok(pid);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    let downMs: number | undefined;
    for (let i = 0; i < 100 && downMs === undefined; i++) {
      if ((await serverStates(socket)).web2?.startsWith('DOWN')) downMs = Date.now() - killedAt;
      else await sleep(50);
    }
    console.log(`web2 killed: HAProxy marked it DOWN after ${downMs} ms (inter ${CHECK_INTERVAL_MS} ms, fall ${CHECK_FALL})`);
    assert.ok(downMs !== undefined, 'web2 never marked DOWN within 5 s');
    // fall consecutive failed checks, one interval apart, plus the check in progress
    assert.ok(downMs <= CHECK_INTERVAL_MS * (CHECK_FALL + 1) + 500, `${downMs} ms`);

    const r = await checkThroughLb(lbUrl(), WEBS, 6);
    console.log(`after the kill: ${JSON.stringify(r.spread)}, ${r.received}/${r.expected} received`);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.spread, { web1: 3, web2: 0, web3: 3 });
    assert.equal(r.received, 36);
    assert.equal(r.crossNode, 18);
  });

  test('teardown removes the lb machine with the rest: nothing left', async () => {
    await lab.teardown();
    assert.deepEqual(await lab.leftovers(), []);
  });
});
