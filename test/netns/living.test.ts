/**
 * Living with a netns lab between up and teardown (issue 12), on one real lab shared by the
 * tests (198.18.110.0/24) and a second one for ls and --lab (198.18.111.0/24), under one home:
 * ls, --lab after the spec file is gone, stop / status / start, verify on a stopped lab,
 * checkpoints with Redis's data broken and brought back, logs (and following them), deploy and
 * recreate of one machine leaving the others' processes alone, open without a browser.
 *
 * Redis here is the host's own redis-server installed by the role from a "prebuilt" source
 * tarball (test/helpers/fake-redis-source.ts): a real Redis, configured, started and checked as
 * always, without the minute of compiling that scaleout.test.ts already spends. Root only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { describeResult, hasStackTrace, labctl, waitForChild, type CliResult } from '../helpers/cli.js';
import { prebuiltRedisTarball } from '../helpers/fake-redis-source.js';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { forceCleanup, leftovers, namespaceInodes, type LabIdentity } from '../helpers/leftovers.js';
import { isAlive, readPid } from '../../src/providers/netns/host.js';
import { waitFor } from '../helpers/wait.js';

const json = (r: CliResult) => JSON.parse(r.stdout) as any;

describe('living with a netns lab: ls, --lab, stop/start, checkpoints, logs, deploy and recreate one machine, open', { timeout: 600_000 }, () => {
  let lab: LabFixture;
  let second: LabIdentity & { specFile: string };
  let sources: string;
  const machineFile = (m: string, rel: string) => path.join(lab.dir, 'machines', m, rel);
  const pidOf = (m: string, rel: string) => readPid(machineFile(m, rel));
  const appPid = (m: string) => pidOf(m, 'run/labctl-chat/app.pid');
  const redisPid = () => pidOf('redis', 'run/redis/redis.pid');
  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await lab.cli(args, { timeoutMs });
    assert.equal(r.code, 0, describeResult(r));
    return r;
  };
  // a light load: these tests are about the lab coming back, scaleout.test.ts measures delivery
  const LIGHT = ['--messages', '5'];
  const verifyOk = async () => {
    const r = await lab.cli(['verify', ...LIGHT, '--json']);
    assert.equal(r.code, 0, describeResult(r));
    assert.equal(json(r).ok, true);
  };

  before(async () => {
    // the spec names the source, so every up and deploy of the lab uses it (not only the first)
    sources = mkdtempSync(path.join(os.tmpdir(), 'labctl-living-src-'));
    const tarball = prebuiltRedisTarball(sources);
    lab = await createLabFixture({ subnet: '198.18.110.0/24', prefix: 'lv', patchSpec: (spec) => (spec.redis.source = { tarball }) });
    const up = await ok(['up'], 180_000);
    lab.rememberNamespaces();
    assert.match(up.stdout, /all \d+ checks passed/);
    assert.match(up.stdout, /Keep this state to come back to: labctl checkpoint save clean \(or labctl up --checkpoint next time\)/);
    second = {
      name: `lv2-111-${randomBytes(2).toString('hex')}`,
      subnet: '198.18.111.0/24',
      home: lab.home,
      specFile: path.join(lab.root, 'second.yaml'),
      namespaceInodes: new Set(),
    };
  });

  after(async () => {
    // the second lab, if a test failed before its teardown: labctl first, then by force
    if (second && leftovers(second).length > 0) await labctl(['--home', lab.home, '--lab', second.name, 'teardown', '--yes']).catch(() => undefined);
    const forcedSecond = second ? forceCleanup(second) : [];
    const forced = lab ? await lab.cleanup() : [];
    if (sources) rmSync(sources, { recursive: true, force: true });
    assert.deepEqual([...forcedSecond, ...forced], [], 'teardown left things that cleanup had to force away');
  });

  test('ls lists both labs of the home, with their machines up (checked live), subnets and spec files', async () => {
    writeFileSync(
      second.specFile,
      stringify({
        name: second.name,
        provider: 'netns',
        network: { subnet: second.subnet },
        redis: { version: '7.0.15' },
        app: { port: 80 },
        machines: { redis: { role: 'redis', os: 'ubuntu', ip: '198.18.111.10' }, web1: { role: 'web', os: 'ubuntu', ip: '198.18.111.11' } },
      }),
    );
    const created = await labctl(['--home', lab.home, '--spec', second.specFile, 'create']);
    for (const [, ino] of namespaceInodes(second)) second.namespaceInodes!.add(ino);
    assert.equal(created.code, 0, describeResult(created));

    const r = await ok(['ls', '--json']);
    const labs = json(r).labs as any[];
    assert.deepEqual(labs.map((l) => l.name).sort(), [lab.name, second.name].sort());
    const a = labs.find((l) => l.name === lab.name);
    const b = labs.find((l) => l.name === second.name);
    assert.deepEqual([a.provider, a.subnet, a.machines.up, a.machines.total, a.spec.file], ['netns', '198.18.110.0/24', 3, 3, lab.specFile]);
    assert.deepEqual([b.subnet, b.machines.up, b.machines.total, b.spec.exists], ['198.18.111.0/24', 2, 2, true]);
    assert.ok(Date.parse(a.created) > Date.now() - 600_000, 'created is when the lab was made');
    const text = await ok(['ls']);
    assert.match(text.stdout, new RegExp(`^${lab.name}\\s+netns\\s+198\\.18\\.110\\.0/24\\s+3/3\\s`, 'm'));
  });

  test('--lab NAME after its spec file is deleted: status, then teardown', async () => {
    rmSync(second.specFile);
    const byName = async (args: string[]) => {
      const r = await labctl(['--home', lab.home, '--lab', second.name, ...args]);
      assert.equal(r.code, 0, describeResult(r));
      return r;
    };
    const status = await byName(['status', '--json']);
    assert.deepEqual(json(status).machines.map((m: any) => [m.name, m.state]), [['redis', 'running'], ['web1', 'running']]);
    assert.match((await ok(['ls'])).stdout, new RegExp(`${second.name} .*second\\.yaml \\(gone: use --lab\\)`));
    const down = await byName(['teardown', '--yes']);
    assert.match(down.stdout, /removed \(\d+ resources\); nothing is left/);
    assert.deepEqual(leftovers(second), []);
    assert.deepEqual(json(await ok(['ls', '--json'])).labs.map((l: any) => l.name), [lab.name]);
  });

  test('stop → status shows the machines stopped, files kept → verify says so → start → verify passes', async () => {
    const before = { redis: redisPid()!, web1: appPid('web1')!, web2: appPid('web2')! };
    const stop = await ok(['stop', '--json']);
    assert.deepEqual(json(stop).stopped, ['redis', 'web1', 'web2']);
    for (const [m, pid] of Object.entries(before)) assert.equal(isAlive(pid), false, `${m}'s service (pid ${pid}) is stopped`);
    assert.ok(existsSync(machineFile('redis', 'etc/redis/redis.conf')), 'the machine keeps its files');
    const status = json(await ok(['status', '--json'])).machines as any[];
    for (const m of status) {
      assert.equal(m.state, 'stopped', m.name);
      assert.match(m.detail, /^by labctl stop at .* \(labctl start /);
    }
    const verify = await lab.cli(['verify']);
    assert.equal(verify.code, 1, describeResult(verify));
    assert.equal(verify.stderr.trim(), `labctl: lab ${lab.name} is stopped (redis, web1, web2): labctl start brings it back, then verify`);
    assert.equal(verify.stdout, '');

    const start = await ok(['start']);
    assert.match(start.stdout, /started redis, web1, web2/);
    assert.notEqual(redisPid(), before.redis, 'Redis was started again');
    await verifyOk();
  });

  test('checkpoint save → Redis data broken (FLUSHALL) → restore → verify passes and the key is back', async () => {
    const value = `kept-${randomBytes(4).toString('hex')}`;
    assert.equal((await ok(['redis-cli', 'SET', 'living:key', value])).stdout.trim(), 'OK');
    const saved = await ok(['checkpoint', 'save', 'clean', '--json']);
    assert.deepEqual(json(saved).checkpoint.machines, ['redis', 'web1', 'web2']);
    assert.ok(existsSync(path.join(lab.dir, 'checkpoints/clean/machines/redis/var/lib/redis/dump.rdb')), 'Redis saved its data into the checkpoint');
    await verifyOk(); // the lab runs again after the copy

    assert.equal((await ok(['redis-cli', 'FLUSHALL'])).stdout.trim(), 'OK');
    assert.equal((await ok(['redis-cli', 'GET', 'living:key'])).stdout.trim(), '');

    const restored = await ok(['checkpoint', 'restore', 'clean', ...LIGHT, '--json'], 120_000);
    assert.equal(json(restored).ok, true);
    assert.equal(json(restored).verify.ok, true, 'restore ran verify');
    assert.equal((await ok(['redis-cli', 'GET', 'living:key'])).stdout.trim(), value);

    const list = json(await ok(['checkpoint', 'list', '--json'])).checkpoints;
    assert.deepEqual(list.map((c: any) => [c.name, c.complete]), [['clean', true]]);
    await ok(['checkpoint', 'remove', 'clean']);
    assert.equal(existsSync(path.join(lab.dir, 'checkpoints/clean')), false);

    // up --checkpoint on a lab that is up: verifies, then keeps it as "clean"
    const up = await ok(['up', '--checkpoint', ...LIGHT, '--json'], 120_000);
    assert.equal(json(up).checkpoint, 'clean');
    assert.deepEqual(json(await ok(['checkpoint', 'list', '--json'])).checkpoints.map((c: any) => c.name), ['clean']);
  });

  test('logs shows the app\'s last lines, and follows what it writes (Redis stopped and started again)', async () => {
    const log = readFileSync(machineFile('web1', 'var/log/labctl-chat/app.log'), 'utf8').trimEnd().split('\n');
    const r = await ok(['logs', 'web1', '-n', '3']);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), log.slice(-3));
    assert.match(r.stderr, /==> web1 app: .*app\.log <==/);
    assert.match((await ok(['logs', 'redis', '-n', '5'])).stdout, /Ready to accept connections/);

    const child = lab.start(['logs', 'web1', '-f', '-n', '1']);
    const done = waitForChild(child, 60_000);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    try {
      await waitFor('the follow header', () => err.includes('(following'), { timeoutMs: 15_000 });
      const first = out;
      await ok(['stop', 'redis']);
      await ok(['start', 'redis']);
      await waitFor('the app telling it lost Redis and got it back, in the followed log', () => /redis (unavailable|reconnecting)[\s\S]*redis connected/.test(out.slice(first.length)), { timeoutMs: 20_000 });
    } finally {
      child.kill('SIGTERM');
    }
    const ended = await done;
    assert.notEqual(ended.signal, 'SIGKILL', 'labctl logs -f ended on SIGTERM');
    assert.ok(!hasStackTrace(err), err);
    await verifyOk();
  });

  test('deploy of one machine, then recreate of one, leave the other machines\' processes alone (same pids)', async () => {
    const others = () => ({ redis: redisPid(), web1: appPid('web1'), sshd1: pidOf('web1', 'run/sshd.pid') });
    const before = others();
    // web2's app dies; deploy web2 starts it again and touches nothing else
    const web2 = appPid('web2')!;
    assert.ok(isAlive(web2), 'web2\'s app runs');
    process.kill(web2, 'SIGKILL');
    await waitFor('web2\'s app gone', () => !isAlive(web2), { timeoutMs: 5000 });
    const deploy = await ok(['deploy', 'web2', '--json']);
    assert.ok(json(deploy).applied.includes('web:web2:service'), 'web2\'s app started again');
    assert.ok(json(deploy).applied.every((id: string) => id.includes(':web2:')), `only web2's steps ran: ${json(deploy).applied}`);
    assert.deepEqual(others(), before);

    const old = { app: appPid('web2'), sshd: pidOf('web2', 'run/sshd.pid'), hostKey: lab.readState().facts['hostKey:web2'] };
    const recreate = await ok(['recreate', 'web2', '--json'], 120_000);
    lab.rememberNamespaces();
    assert.deepEqual(
      json(recreate).removed.map((r: string) => r.split(' ')[0]).sort(),
      ['dir', 'netns', 'veth'],
      'its namespace, link and folder were removed',
    );
    assert.notEqual(pidOf('web2', 'run/sshd.pid'), old.sshd, 'a new sshd');
    assert.notEqual(lab.readState().facts['hostKey:web2'], old.hostKey, 'a new machine: a new host key, pinned anew');
    assert.notEqual(appPid('web2'), old.app, 'a new app process');
    assert.deepEqual(others(), before, 'redis and web1 kept their processes');
    await verifyOk();
  });

  test('open prints the page\'s URL and an ssh -L line where there is no browser (no DISPLAY)', async () => {
    const env = { DISPLAY: '', WAYLAND_DISPLAY: '' };
    const r = await lab.cli(['open', 'web2'], { env });
    assert.equal(r.code, 0, describeResult(r));
    const [url, tunnel] = r.stdout.trimEnd().split('\n');
    assert.equal(url, `http://${lab.ip('web2')}/`);
    assert.match(tunnel!, new RegExp(`^from another computer: ssh -L 8082:${lab.ip('web2').replace(/\./g, '\\.')}:80 \\S+@\\S+   then http://localhost:8082/$`));
    const j = await lab.cli(['open', 'web1', '--json'], { env });
    assert.deepEqual([json(j).url, json(j).opened], [`http://${lab.ip('web1')}/`, false]);
    const redis = await lab.cli(['open', 'redis'], { env });
    assert.equal(redis.code, 2);
    assert.match(redis.stderr, /redis serves no chat page/);
  });
});
