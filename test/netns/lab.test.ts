/**
 * The netns provider end to end, through the real CLI (`node bin/labctl`, so build first).
 * Root only: these tests create network namespaces, links and sshd processes. Each test has
 * its own lab name and /24 (this file owns 198.18.10.0/24 - 198.18.30.0/24) and cleans up in
 * a finally, even when it fails.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { before, test } from 'node:test';
import { assertBuilt, describeResult, hasStackTrace, REPO_ROOT, waitForChild, type CliResult } from '../helpers/cli.js';
import { withLab, type LabFixture } from '../helpers/lab.js';
import { isRunning, labNamespaces } from '../helpers/leftovers.js';
import { waitFor } from '../helpers/wait.js';
import { processStartTime } from '../../src/state/lock.js';
import { labHash } from '../../src/providers/netns/names.js';

const PROBE = path.join(REPO_ROOT, 'test/helpers/scripts/tcp-probe.mjs');
const LISTEN = path.join(REPO_ROOT, 'test/helpers/scripts/tcp-listen.mjs');
const NODE = process.execPath;
/** the create steps of the 3-machine lab: lab SSH key, bridge, and 5 steps per machine */
const CREATE_STEP_IDS = [
  'lab:ssh-key',
  'net:bridge',
  ...['redis', 'web1', 'web2'].flatMap((m) => ['netns', 'link', 'disk', 'sshd', 'ready'].map((s) => `machine:${m}:${s}`)),
];
const CREATE_STEPS = CREATE_STEP_IDS.length;

before(() => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'test/netns/lab.test.ts must run as root: the netns provider creates network namespaces, links and sshd processes ' +
        '(sudo node --import tsx --test test/netns/lab.test.ts)',
    );
  }
  assertBuilt();
});

function ok(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what}: ${describeResult(r)}`);
}

function json<T = any>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON: ${describeResult(r)}`);
  }
}

function sshdPids(lab: LabFixture): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of lab.machines) {
    const f = path.join(lab.dir, 'machines', m.name, 'run/sshd.pid');
    if (existsSync(f)) out[m.name] = Number(readFileSync(f, 'utf8').trim());
  }
  return out;
}

const alive = isRunning;

async function assertAllRunning(lab: LabFixture): Promise<void> {
  const status = await lab.cli(['status', '--json']);
  ok(status, 'status --json');
  const body = json(status);
  assert.equal(body.created, true);
  assert.equal(body.lab, lab.name);
  assert.deepEqual(
    body.machines.map((m: any) => [m.name, m.address, m.state]),
    lab.machines.map((m) => [m.name, m.ip, 'running']),
    `status --json: ${status.stdout}`,
  );
}

async function assertSshEverywhere(lab: LabFixture): Promise<void> {
  for (const m of lab.machines) {
    // the address of eth0 proves the session runs on that machine, not on the host
    const r = await lab.ssh(m.name, 'ip -4 -o addr show dev eth0');
    ok(r, `ssh ${m.name}`);
    assert.match(r.stdout, new RegExp(`inet ${m.ip.replace(/\./g, '\\.')}/24 `), `${m.name}'s eth0: ${r.stdout}`);
  }
}

test('create: every machine answers over SSH, reaches the others over TCP; status, plan, re-create; teardown leaves nothing', { timeout: 180_000 }, async (t) => {
  await withLab({ subnet: '198.18.10.0/24', prefix: 'life' }, async (lab) => {
    // plan before create: every create step to do, and plan itself creates nothing
    const fresh = await lab.cli(['plan', '--json']);
    ok(fresh, 'plan --json before create');
    const freshSteps = new Map((json(fresh).steps as { id: string; status: string }[]).map((s) => [s.id, s.status]));
    for (const id of CREATE_STEP_IDS) assert.equal(freshSteps.get(id), 'todo', `before create, ${id} is to do`);
    assert.deepEqual(lab.leftovers(), [], 'plan created nothing');

    const created = await lab.create();
    t.diagnostic(`create took ${created.ms} ms`);
    assert.equal(labNamespaces(lab).length, 3, 'one namespace per machine');

    await assertAllRunning(lab);
    await assertSshEverywhere(lab);

    // ssh exits with the command's code and streams its output
    const seven = await lab.ssh('web1', 'echo to-stdout; echo to-stderr >&2; exit 7');
    assert.equal(seven.code, 7, describeResult(seven));
    assert.equal(seven.stdout, 'to-stdout\n');
    assert.match(seven.stderr, /to-stderr/);
    const unknown = await lab.cli(['ssh', 'web9', '--', 'true']);
    assert.equal(unknown.code, 2, describeResult(unknown));
    assert.match(unknown.stderr, /no machine named "web9"/);

    // every machine reaches every other machine's sshd over TCP
    for (const m of lab.machines) {
      const others = lab.machines.filter((o) => o.name !== m.name);
      const r = await lab.ssh(m.name, `${NODE} ${PROBE} ${others.map((o) => `${o.ip}:22`).join(' ')}`);
      ok(r, `TCP probe from ${m.name}`);
      const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(results.length, others.length);
      for (const res of results) assert.match(res.banner, /^SSH-2\.0-/, `${m.name} -> ${res.target}: ${JSON.stringify(res)}`);
    }
    // the probe does fail when nothing listens (so the check above can fail too)
    const closed = await lab.ssh('web1', `${NODE} ${PROBE} ${lab.ip('redis')}:7999`);
    assert.equal(closed.code, 1, describeResult(closed));
    assert.match(closed.stdout, /ECONNREFUSED/);

    // a listener on redis, reached from web1 and web2; the answer names the client's address
    const token = `tok${Date.now()}`;
    const ready = path.join(lab.root, 'listener.ready');
    const started = await lab.ssh('redis', `${NODE} ${LISTEN} ${lab.ip('redis')} 7001 ${token} ${ready} 2 30000 </dev/null >/dev/null 2>&1 &`);
    ok(started, 'start the listener on redis');
    const listenerPid = await waitFor('the listener on redis', () => existsSync(ready) && Number(readFileSync(ready, 'utf8')), { timeoutMs: 10_000 });
    assert.equal(
      statSync(`/proc/${listenerPid}/ns/net`).ino,
      statSync(`/run/netns/labctl-${lab.name}-redis`).ino,
      'the listener runs in the redis namespace',
    );
    for (const web of ['web1', 'web2']) {
      const r = await lab.ssh(web, `${NODE} ${PROBE} ${lab.ip('redis')}:7001`);
      ok(r, `${web} -> redis:7001`);
      assert.equal(JSON.parse(r.stdout).banner, `${token} from ${lab.ip('redis')} to ${lab.ip(web)}`);
    }
    await waitFor('the listener to exit after its two connections', () => !alive(listenerPid), { timeoutMs: 5000 });

    // plan: every create step already done (deploy steps, when there are any, are still to do)
    const plan = await lab.cli(['plan', '--json']);
    ok(plan, 'plan --json');
    const steps = new Map((json(plan).steps as { id: string; status: string; reason: string }[]).map((s) => [s.id, s]));
    for (const id of CREATE_STEP_IDS) {
      assert.equal(steps.get(id)?.status, 'done', `after create, ${id} is done: ${JSON.stringify(steps.get(id))}`);
      assert.equal(steps.get(id)?.reason, 'already done');
    }
    const planText = await lab.cli(['plan']);
    ok(planText, 'plan');
    assert.match(planText.stdout, /✓ bridge lcb[0-9a-f]{6} with gateway 198\.18\.10\.1\/24 {2}\[already done\]/);

    // re-running create changes nothing: same sshd processes, same namespaces, same journal
    const pidsBefore = sshdPids(lab);
    const nsBefore = lab.rememberNamespaces();
    const journalBefore = lab.readState().steps;
    assert.equal(Object.keys(pidsBefore).length, 3);
    const again = await lab.create();
    assert.doesNotMatch(again.stderr, /✓/, `a second create applied steps: ${again.stderr}`);
    assert.match(again.stderr, /already done/);
    assert.deepEqual(sshdPids(lab), pidsBefore, 'sshd was not restarted');
    assert.deepEqual(lab.rememberNamespaces(), nsBefore, 'namespaces were not recreated');
    assert.deepEqual(lab.readState().steps, journalBefore, 'journal of steps unchanged');

    // a second labctl on the same lab stops at once while the first holds the lock
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await waitFor('the lock holder to start', () => processStartTime(holder.pid!));
      writeFileSync(
        path.join(lab.dir, 'lock'),
        JSON.stringify({ pid: holder.pid, started: processStartTime(holder.pid!), command: 'create' }),
      );
      const busy = await lab.cli(['teardown', '--yes']);
      assert.equal(busy.code, 2, describeResult(busy));
      assert.match(busy.stderr, new RegExp(`^labctl: lab ${lab.name} is busy \\(pid ${holder.pid}\\b`));
      assert.ok(busy.ms < 5000, `busy took ${busy.ms} ms`);
      assert.equal(labNamespaces(lab).length, 3, 'a refused teardown removed nothing');
    } finally {
      holder.kill('SIGKILL');
    }
    await waitFor('the lock holder to exit', () => holder.exitCode !== null || holder.signalCode !== null);
    // the holder is dead now: its lock is stale and is taken over

    // without a terminal, teardown wants --yes and removes nothing
    const noYes = await lab.cli(['teardown']);
    assert.equal(noYes.code, 2, describeResult(noYes));
    assert.match(noYes.stderr, /--yes/);
    assert.equal(labNamespaces(lab).length, 3, 'teardown without --yes removed nothing');
    await assertAllRunning(lab);

    const down = await lab.teardown();
    t.diagnostic(`teardown took ${down.ms} ms`);
    assert.match(down.stdout, /removed/);
    assert.deepEqual(lab.leftovers(), [], 'nothing of the lab is left');
    for (const pid of Object.values(pidsBefore)) assert.equal(alive(pid), false, `sshd ${pid} is gone`);

    const status = json(await lab.cli(['status', '--json']));
    assert.equal(status.created, false);
    assert.deepEqual(status.machines.map((m: any) => m.state), ['missing', 'missing', 'missing']);

    const second = await lab.cli(['teardown', '--yes']);
    ok(second, 'second teardown');
    assert.match(second.stdout, /nothing to remove/);
    assert.deepEqual(lab.leftovers(), []);

    const sshAfter = await lab.ssh('web1', 'true');
    assert.equal(sshAfter.code, 2, describeResult(sshAfter));
    assert.match(sshAfter.stderr, /not created/);
  });
});

test('bad input: exit 2 with one clear line, and nothing is created', { timeout: 120_000 }, async () => {
  await withLab({ subnet: '198.18.12.0/24', prefix: 'inuse' }, async (a) => {
    await a.create();
    // lab B's spec asks for A's subnet (its fixture keeps 198.18.13.0/24 as its own identity, so
    // B's cleanup never touches A)
    await withLab(
      {
        subnet: '198.18.13.0/24',
        prefix: 'clash',
        patchSpec: (spec) => {
          spec.network.subnet = '198.18.12.0/24';
          Object.values(spec.machines).forEach((m: any, i) => (m.ip = `198.18.12.${20 + i}`));
        },
      },
      async (b) => {
        const r = await b.cli(['create']);
        assert.equal(r.code, 2, describeResult(r));
        assert.match(r.stderr, /^labctl: network\.subnet 198\.18\.12\.0\/24 in .* overlaps 198\.18\.12\.0\/24 .*choose another subnet\n$/);
        assert.equal(hasStackTrace(r.stderr + r.stdout), false);
        assert.deepEqual(b.leftovers(), [], 'a refused create left nothing');
        assert.deepEqual(labNamespaces(b), []);
        assert.equal(existsSync(b.home) ? readdirSync(path.join(b.home, 'labs')).length : 0, 0, `nothing under ${b.home}`);
      },
    );
    await withLab(
      { subnet: '198.18.13.0/24', prefix: 'badspec', patchSpec: (spec) => (spec.machines.web1.ip = '198.18.99.11') },
      async (c) => {
        const r = await c.cli(['create']);
        assert.equal(r.code, 2, describeResult(r));
        assert.match(r.stderr, /^labctl: .*lab\.yaml:machines\.web1\.ip: 198\.18\.99\.11 is outside the subnet 198\.18\.13\.0\/24 \(line \d+\)\n$/);
        assert.equal(existsSync(c.home), false, 'no home folder was made for an invalid spec');
        assert.deepEqual(c.leftovers(), []);
      },
    );
    // A was not disturbed
    await assertAllRunning(a);
    await a.teardown();
    assert.deepEqual(a.leftovers(), []);
  });
});

/** Starts `labctl ARGS`, kills it with SIGKILL as soon as `when()` holds, returns the result. */
async function killWhen(lab: LabFixture, args: string[], what: string, when: () => boolean): Promise<CliResult> {
  const child = lab.start(args);
  const result = waitForChild(child, 60_000);
  try {
    await waitFor(what, () => when() || child.exitCode !== null, { timeoutMs: 30_000, intervalMs: 2 });
  } finally {
    child.kill('SIGKILL');
  }
  const r = await result;
  assert.equal(r.signal, 'SIGKILL', `labctl ${args.join(' ')} should have been killed part-way (${what}): ${describeResult(r)}`);
  return r;
}

test('a create killed half-way: teardown leaves nothing; a re-run resumes; an interrupted teardown finishes on re-run', { timeout: 180_000 }, async (t) => {
  await withLab({ subnet: '198.18.14.0/24', prefix: 'kill' }, async (lab) => {
    const nsDir = '/run/netns';
    const firstNamespace = () => existsSync(nsDir) && readdirSync(nsDir).some((f) => f.startsWith(`labctl-${lab.name}-`));

    // 1. killed as soon as the first namespace exists, then teardown
    await killWhen(lab, ['create'], 'the first namespace', firstNamespace);
    lab.rememberNamespaces();
    const partial = lab.readState();
    assert.ok(partial, 'the killed create left a journal');
    assert.ok(Object.keys(partial.steps).length < CREATE_STEPS, `killed before the end (${Object.keys(partial.steps).length} steps done)`);
    const lock = JSON.parse(readFileSync(path.join(lab.dir, 'lock'), 'utf8'));
    assert.equal(alive(lock.pid), false, 'the lock left behind belongs to the killed labctl');
    const down = await lab.teardown();
    assert.match(down.stdout, /removed/);
    assert.deepEqual(lab.leftovers(), [], 'nothing is left after teardown of a killed create');

    // 2. killed once the first sshd has started, then create again: resumes
    await killWhen(lab, ['create'], 'the first sshd', () => Object.keys(sshdPids(lab)).length > 0);
    const journal = lab.readState().steps as Record<string, { at: string }>;
    const done = Object.keys(journal);
    assert.ok(done.length < CREATE_STEPS, `killed before the end (${done.length} steps done)`);
    const nsBefore = lab.rememberNamespaces();
    const sshdBefore = Object.fromEntries(Object.entries(sshdPids(lab)).filter(([, pid]) => alive(pid)));
    t.diagnostic(`killed with ${done.length} steps done, ${nsBefore.size} namespaces, ${Object.keys(sshdBefore).length} sshd running`);

    const resumed = await lab.create();
    const after = lab.readState().steps as Record<string, { at: string }>;
    assert.equal(Object.keys(after).length, CREATE_STEPS);
    for (const id of done) assert.equal(after[id]?.at, journal[id]!.at, `step ${id} finished before the kill was not run again`);
    const nsAfter = lab.rememberNamespaces();
    for (const [ns, ino] of nsBefore) assert.equal(nsAfter.get(ns), ino, `namespace ${ns} was kept, not recreated`);
    for (const [m, pid] of Object.entries(sshdBefore)) assert.equal(sshdPids(lab)[m], pid, `sshd of ${m} was kept`);
    // (the steps left may all be checks that find their work done: e.g. sshd answering already)
    assert.doesNotMatch(resumed.stderr, /✗/, resumed.stderr);
    await assertAllRunning(lab);
    await assertSshEverywhere(lab);

    // 3. teardown killed after the first namespace is gone, then teardown again
    const all = labNamespaces(lab).length;
    assert.equal(all, 3);
    await killWhen(lab, ['teardown', '--yes'], 'the first namespace to go', () => labNamespaces(lab).length < all);
    await lab.teardown();
    assert.deepEqual(lab.leftovers(), [], 'nothing is left after an interrupted teardown is finished');
  });
});

test('create repairs what an interrupted create can leave half-done (bridge down, veth off the bridge, links down, folders missing)', { timeout: 120_000 }, async () => {
  await withLab({ subnet: '198.18.15.0/24', prefix: 'repair' }, async (lab) => {
    await lab.create();
    const hash = labHash(lab.name);
    const ns = (m: string) => `labctl-${lab.name}-${m}`;
    const host = (args: string[]) => {
      const r = spawnSync('ip', args, { encoding: 'utf8' });
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    };
    // each of these is a state a create killed between two commands of a step leaves behind
    host(['link', 'set', `lcb${hash}`, 'down']); // bridge made and addressed, not yet up
    host(['link', 'set', `lcv${hash}-1`, 'nomaster']); // web1's pair made, host end not yet on the bridge
    host(['-n', ns('web2'), 'link', 'set', 'eth0', 'down']); // web2's eth0 addressed, not yet up
    host(['-n', ns('redis'), 'link', 'set', 'lo', 'down']); // namespace added, lo not yet up
    rmSync(path.join(lab.dir, 'machines/web2/tmp'), { recursive: true }); // folder half made
    const broken = await lab.ssh('web1', 'true', { timeoutMs: 30_000 });
    assert.notEqual(broken.code, 0, 'web1 is cut off before the repair');

    const repaired = await lab.create();
    for (const title of [/bridge lcb/, /web1: eth0/, /web2: eth0/, /redis: network namespace/, /web2: machine folder/]) {
      assert.match(repaired.stderr, new RegExp(`✓ ${title.source}`), `create re-did the step ${title}: ${repaired.stderr}`);
    }
    await assertAllRunning(lab);
    await assertSshEverywhere(lab);
    const lo = await lab.ssh('redis', 'ip -o link show dev lo');
    ok(lo, 'lo on redis');
    assert.match(lo.stdout, /[<,]UP[,>]/, `lo is up again: ${lo.stdout}`);
    assert.ok(existsSync(path.join(lab.dir, 'machines/web2/tmp')));
    const probe = await lab.ssh('web1', `${NODE} ${PROBE} ${lab.ip('web2')}:22 ${lab.ip('redis')}:22`);
    ok(probe, 'web1 reaches web2 and redis again');

    await lab.teardown();
    assert.deepEqual(lab.leftovers(), []);
  });
});
