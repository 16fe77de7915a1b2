/**
 * Issues 3, 4 and 6 end to end on one real netns lab: Redis built from Debian's source
 * package over SSH, the chat app on two web machines, verify (with a real browser),
 * watch, failure and recovery, teardown. One lab is shared so Redis is compiled once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { describeResult, hasStackTrace } from '../helpers/cli.js';
import { ChatClient, type ChatMessage } from '../../src/verify/chat-client.js';
import { pingRedis } from '../../src/verify/redis-probe.js';
import { waitFor } from '../helpers/wait.js';

const BUILD_TIMEOUT = 600_000;
let lab: LabFixture;
let password: string;
const prefix = () => path.join(lab.dir, 'machines/redis/opt/redis/7.0.15');
const json = (stdout: string) => JSON.parse(stdout) as any;

async function connected(node: string, name: string): Promise<ChatClient> {
  const c = new ChatClient(`http://${lab.ip(node)}`, name);
  await c.connect();
  const ack = await c.join(name);
  assert.equal(ack.ok, true, `join on ${node}: ${JSON.stringify(ack)}`);
  return c;
}

function collect(c: ChatClient): ChatMessage[] {
  const got: ChatMessage[] = [];
  c.onChat((m) => got.push(m));
  return got;
}

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  await waitFor(what, fn, { timeoutMs: ms, intervalMs: 25 });
}

describe('scaleout lab on netns: up, Redis from source, verify, browser, watch, recovery', { timeout: BUILD_TIMEOUT + 300_000 }, () => {
  before(async () => {
    lab = await createLabFixture({ subnet: '198.18.100.0/24', prefix: 'so' });
  });
  after(async () => {
    const forced = await lab.cleanup();
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  it('up builds everything and verify passes with nothing lost or duplicated', async () => {
    const r = await lab.cli(['up', '--json'], { timeoutMs: BUILD_TIMEOUT });
    assert.equal(r.code, 0, describeResult(r));
    lab.rememberNamespaces();
    const out = json(r.stdout);
    assert.equal(out.ok, true);
    assert.equal(out.alreadyUp, false);
    assert.match(out.redisSource, /distribution source package redis_7\.0\.15/);
    for (const c of out.verify.checks) assert.equal(c.ok, true, `${c.name}: ${c.reason}`);
    assert.equal(out.verify.delivery.lost, 0);
    assert.equal(out.verify.delivery.duplicated, 0);
    assert.equal(out.verify.delivery.received, out.verify.delivery.expected);
    assert.equal(out.verify.delivery.expected, 2 * 2 * 50 * 4, 'every one of 4 clients receives all 200 messages');
    for (const phase of ['create', 'deploy', 'verify']) assert.ok(out.phasesMs[phase] > 0, `phase ${phase} timed`);
    password = readFileSync(path.join(lab.dir, 'secrets/redis_password'), 'utf8');
    assert.ok(password.length >= 32, 'a generated password of at least 32 characters');
  });

  it('Redis answers PING with the password and NOAUTH without it', async () => {
    const ip = lab.ip('redis');
    assert.equal(await pingRedis({ host: ip, port: 6379, password }), 'PONG');
    assert.match(await pingRedis({ host: ip, port: 6379 }), /NOAUTH/);
    const cli = await lab.cli(['redis-cli', 'PING']);
    assert.equal(cli.stdout.trim(), 'PONG', describeResult(cli));
    const bare = await lab.ssh('redis', `${prefix()}/bin/redis-cli -h ${ip} PING`);
    assert.match(bare.stdout + bare.stderr, /NOAUTH/);
  });

  it('INFO server shows the source version and an executable under the lab prefix', async () => {
    const r = await lab.cli(['redis-cli', 'INFO', 'server']);
    assert.equal(r.code, 0, describeResult(r));
    assert.match(r.stdout, /^redis_version:7\.0\.15\r?$/m);
    const exe = /^executable:(.*?)\r?$/m.exec(r.stdout)?.[1];
    assert.equal(exe, `${prefix()}/bin/redis-server`);
    const marker = JSON.parse(readFileSync(path.join(prefix(), '.labctl-build.json'), 'utf8'));
    assert.equal(marker.kind, 'distro');
    assert.match(marker.sha256, /^[0-9a-f]{64}$/);
  });

  it('the config has requirepass and bind, keeps redis.conf.orig, and no secret is world-readable or on a command line', async () => {
    const etc = path.join(lab.dir, 'machines/redis/etc/redis');
    const conf = readFileSync(path.join(etc, 'redis.conf'), 'utf8');
    assert.match(conf, new RegExp(`^requirepass ${password}$`, 'm'));
    assert.match(conf, new RegExp(`^bind ${lab.ip('redis').replace(/\./g, '\\.')} 127\\.0\\.0\\.1$`, 'm'));
    assert.match(conf, /^protected-mode yes$/m);
    assert.ok(existsSync(path.join(etc, 'redis.conf.orig')), 'redis.conf.orig kept');
    assert.match(readFileSync(path.join(etc, 'redis.conf.orig'), 'utf8'), /^# Redis configuration file example/m);
    for (const f of [path.join(etc, 'redis.conf'), path.join(etc, 'password'), path.join(lab.dir, 'secrets/redis_password'), path.join(lab.dir, 'machines/web1/etc/labctl-chat/redis.password')]) {
      assert.equal(statSync(f).mode & 0o077, 0, `${f} is readable by group or others`);
    }
    const ps = await lab.ssh('redis', 'ps -eo args');
    assert.ok(!ps.stdout.includes(password), 'the Redis password appears in a process command line');
  });

  it('the Redis machine firewall admits only the lab subnet, on 22 and 6379', async () => {
    const r = await lab.ssh('redis', 'nft list table inet labctl');
    assert.equal(r.code, 0, describeResult(r));
    assert.match(r.stdout, /policy drop/);
    assert.match(r.stdout, new RegExp(`ip saddr ${lab.prefix24.replace(/\./g, '\\.')}\\.0/24 tcp dport \\{ 22, 6379 \\} accept`));
  });

  it('a second deploy does not rebuild and finishes quickly', async () => {
    const r = await lab.cli(['deploy', '--json']);
    assert.equal(r.code, 0, describeResult(r));
    const out = json(r.stdout);
    assert.ok(out.skipped.includes('redis:redis:build'), 'build skipped');
    assert.deepEqual(out.applied, [], 'nothing to apply on a deployed lab');
    assert.ok(r.ms < 10_000, `warm deploy took ${r.ms} ms`);
  });

  it('up on a lab that is already up only verifies', async () => {
    const r = await lab.cli(['up', '--json'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(json(r.stdout).alreadyUp, true);
  });

  it('an oversize message is refused with a notice and not broadcast; HTML arrives as the same text', async () => {
    const a = await connected('web1', 'alice');
    const b = await connected('web2', 'bob');
    try {
      const gotB = collect(b);
      const notices: unknown[] = [];
      a.socket.on('notice', (n) => notices.push(n));
      const big = await a.send('x'.repeat(1001));
      assert.equal(big.ok, false);
      await until('the notice', () => notices.length > 0);
      const html = '<img src=x onerror=alert(1)><script>alert(2)</script> & "quotes"';
      const ok = await a.send(html);
      assert.equal(ok.ok, true);
      await until('the HTML message on web2', () => gotB.length > 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(gotB.length, 1, `web2 got ${gotB.length} messages: the oversize one must not be broadcast`);
      assert.equal(gotB[0]!.text, html);
      assert.equal(gotB[0]!.origin, 'web1');
    } finally {
      a.close();
      b.close();
    }
  });

  it('watch prints a message sent through the chat, decoded', async () => {
    const watch = lab.start(['watch', '--json', '--count', '1', '--for', '20']);
    let out = '';
    watch.stdout!.on('data', (c) => (out += c));
    let err = '';
    watch.stderr!.on('data', (c) => (err += c));
    const a = await connected('web2', 'carol');
    try {
      const text = `watch me ${Date.now()}`;
      // the subscription may take a moment: resend until watch has printed something
      await until('watch output', async () => {
        if (out.includes('\n')) return true;
        await a.send(text);
        await new Promise((r) => setTimeout(r, 150));
        return out.includes('\n');
      }, 10_000);
      const code = await new Promise<number | null>((resolve) => (watch.exitCode !== null ? resolve(watch.exitCode) : watch.on('exit', resolve)));
      assert.equal(code, 0, err);
      const line = JSON.parse(out.trim().split('\n')[0]!);
      assert.equal(line.channel, 'ChatApp#/#');
      assert.equal(line.event, 'chat');
      assert.equal(line.origin, 'web2');
      assert.equal(line.payload.text, text);
      assert.equal(line.payload.name, 'carol');
    } finally {
      a.close();
      if (watch.exitCode === null) watch.kill('SIGKILL');
    }
  });

  it('verify --browser: two Chromium windows see each other\'s messages; screenshots are saved', async () => {
    const r = await lab.cli(['verify', '--browser', '--json', '--messages', '5'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, describeResult(r));
    const out = json(r.stdout);
    assert.equal(out.browser.ok, true, out.browser.reason);
    assert.ok(out.browser.exchanges.length >= 3);
    assert.ok(out.browser.screenshots.length >= 2);
    for (const s of out.browser.screenshots) {
      assert.ok(s.startsWith(path.join(lab.dir, 'screenshots')), s);
      assert.ok(statSync(s).size > 5000, `${s} is a real screenshot`);
    }
  });

  it('redis-server killed, then deploy brings it back', async () => {
    const kill = await lab.ssh('redis', `kill -9 "$(cat ${path.join(lab.dir, 'machines/redis/run/redis/redis.pid')})"`);
    assert.equal(kill.code, 0, describeResult(kill));
    await until('Redis to be down', async () => (await pingRedis({ host: lab.ip('redis'), port: 6379, password }, 500)) !== 'PONG');
    const r = await lab.cli(['deploy', '--json']);
    assert.equal(r.code, 0, describeResult(r));
    assert.ok(json(r.stdout).applied.includes('redis:redis:service'));
    assert.ok(!json(r.stdout).applied.includes('redis:redis:build'), 'no rebuild to restart');
    assert.equal(await pingRedis({ host: lab.ip('redis'), port: 6379, password }), 'PONG');
  });

  it('verify checks that each node runs the build labctl made (its /healthz build = sha256 of dist/app/server.cjs): a node running another build fails, named', async () => {
    const name = 'web1 runs the chat app labctl built';
    const first = json((await lab.cli(['verify', '--json', '--messages', '2'])).stdout);
    for (const m of ['web1', 'web2']) {
      const c = first.checks.find((x: any) => x.name === `${m} runs the chat app labctl built`);
      assert.equal(c?.ok, true, JSON.stringify(c));
      assert.match(c.reason, /^build [0-9a-f]{12} = sha256 of dist\/app\/server\.cjs$/);
    }
    // the bundle on web1, changed where it was deployed, and the app restarted from it
    const appRoot = path.join(lab.dir, 'machines/web1/opt/labctl-chat');
    const file = path.join(appRoot, readdirSync(appRoot).find((d) => existsSync(path.join(appRoot, d, 'server.cjs')))!, 'server.cjs');
    const original = readFileSync(file);
    const restart = async () => {
      const stop = await lab.ssh('web1', `kill "$(cat ${path.join(lab.dir, 'machines/web1/run/labctl-chat/app.pid')})"`);
      assert.equal(stop.code, 0, describeResult(stop));
      await until('web1 to stop answering', async () => {
        try {
          await fetch(`http://${lab.ip('web1')}/healthz`, { signal: AbortSignal.timeout(500) });
          return false;
        } catch {
          return true;
        }
      });
      const r = await lab.cli(['deploy', '--json']);
      assert.equal(r.code, 0, describeResult(r));
    };
    try {
      writeFileSync(file, Buffer.concat([original, Buffer.from('\n// another build of the app\n')]));
      await restart();
      const bad = await lab.cli(['verify', '--json', '--messages', '2']);
      assert.equal(bad.code, 1, describeResult(bad));
      const report = json(bad.stdout);
      const c = report.checks.find((x: any) => x.name === name);
      assert.equal(c.ok, false);
      assert.match(c.reason, /^web1 runs build [0-9a-f]{12}, labctl built [0-9a-f]{12} \(dist\/app\/server\.cjs\): run labctl deploy web1$/);
      assert.deepEqual(report.checks.filter((x: any) => !x.ok).map((x: any) => x.name), [name], 'only that check fails: the app itself works');
    } finally {
      writeFileSync(file, original);
      await restart();
    }
    const good = await lab.cli(['verify', '--json', '--messages', '2']);
    assert.equal(good.code, 0, describeResult(good));
  });

  it('one web node stopped: verify and verify --browser fail naming it; deploy makes it pass again', async () => {
    const stop = await lab.ssh('web2', `kill "$(cat ${path.join(lab.dir, 'machines/web2/run/labctl-chat/app.pid')})"`);
    assert.equal(stop.code, 0, describeResult(stop));
    await until('web2 to stop answering', async () => {
      try {
        await fetch(`http://${lab.ip('web2')}/healthz`, { signal: AbortSignal.timeout(500) });
        return false;
      } catch {
        return true;
      }
    });
    const bad = await lab.cli(['verify', '--json', '--messages', '5']);
    assert.equal(bad.code, 1, describeResult(bad));
    assert.ok(!hasStackTrace(bad.stderr));
    const report = json(bad.stdout);
    assert.equal(report.ok, false);
    const failed = report.checks.filter((c: any) => !c.ok);
    assert.ok(failed.length > 0);
    assert.ok(failed.some((c: any) => c.node === 'web2' || /web2/.test(c.reason)), JSON.stringify(failed));
    assert.ok(!failed.some((c: any) => c.node === 'web1'), 'web1 is healthy and must not be blamed');

    const browser = await lab.cli(['verify', '--browser', '--json', '--messages', '2'], { timeoutMs: 120_000 });
    assert.equal(browser.code, 1, describeResult(browser));
    assert.equal(json(browser.stdout).browser.ok, false);
    assert.equal(json(browser.stdout).browser.node, 'web2', json(browser.stdout).browser.reason);

    const redeploy = await lab.cli(['deploy', '--json']);
    assert.equal(redeploy.code, 0, describeResult(redeploy));
    assert.ok(json(redeploy.stdout).applied.includes('web:web2:service'));
    const good = await lab.cli(['verify', '--json', '--messages', '5']);
    assert.equal(good.code, 0, describeResult(good));
  });

  it('teardown leaves nothing: no namespace, link, process or file', async () => {
    await lab.teardown();
    assert.deepEqual(lab.leftovers(), []);
  });
});
