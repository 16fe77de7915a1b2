/**
 * Issue 11, part 4 end to end on a real netns lab (through the real CLI: build first): the chat
 * servers connect to Redis as the ACL user `chat`, which verify proves limited with ACL DRYRUN;
 * each web machine holds only chat's password (0600), the redis machine only its hash; and no
 * secret — the Redis administration password, chat's password, the lab's SSH key, the machines'
 * host keys — appears in any output of a full `up` (with --verbose: every step's detail lines)
 * and of the commands around it (--json, plan, status, verify, logs, redis-cli, an interrupted
 * up, a failing verify), in the lab's logs and journal, or in the command line or environment
 * of any process on the host, sampled every 20 ms while all of that runs.
 *
 * Redis comes from the 'prebuilt' source tarball (test/helpers/fake-redis-source.ts: its
 * "build" installs the host's redis-server 7.0.15), so the run takes seconds; the role treats
 * it as any source (upload, sha256, build.sh, install, redis.conf with the ACL user, service).
 * The real compile is in scaleout.test.ts and interrupt.test.ts. Subnet 198.18.131.0/24.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { createLabFixture, type LabFixture } from '../helpers/lab.js';
import { describeResult, type CliResult } from '../helpers/cli.js';
import { prebuiltRedisTarball } from '../helpers/fake-redis-source.js';
import { sleep, waitFor } from '../helpers/wait.js';

let lab: LabFixture;
/** every output of every command run here, by what ran */
const outputs: { what: string; text: string }[] = [];
/** unique process command lines and environments seen while the commands ran */
const processes = new Map<string, string>();
let sampling = false;
let sampler: Promise<void> | undefined;

function sampleProcesses(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv0 = '';
    for (const part of ['cmdline', 'environ']) {
      try {
        const raw = readFileSync(`/proc/${entry}/${part}`, 'latin1');
        if (part === 'cmdline') argv0 = raw.split('\0')[0] ?? '';
        let vars = raw.split('\0').filter(Boolean);
        // The one place a secret is meant to be: redis-cli reads the admin password from
        // REDISCLI_AUTH (Redis's documented way; `labctl redis-cli` sets it from a file on the
        // machine). An environment is readable by its owner and root only, unlike a command line.
        if (part === 'environ' && /(^|\/)redis-cli$/.test(argv0)) vars = vars.filter((v) => !v.startsWith('REDISCLI_AUTH='));
        const text = vars.join(' ');
        if (!text) continue;
        const key = createHash('sha1').update(text).digest('hex');
        // named by pid, part and program only: a failure message must not print what it found
        if (!processes.has(key)) processes.set(key, `pid ${entry} ${part} (${path.basename(argv0) || '?'})\n${text}`);
      } catch {
        /* gone, or not ours to read */
      }
    }
  }
}

function startSampling(): void {
  sampling = true;
  sampler = (async () => {
    while (sampling) {
      sampleProcesses();
      await sleep(20);
    }
  })();
}

async function run(what: string, args: string[], expectCode?: number): Promise<CliResult> {
  const r = await lab.cli(args, { timeoutMs: 300_000 });
  outputs.push({ what: `${what} (stdout)`, text: r.stdout }, { what: `${what} (stderr)`, text: r.stderr });
  if (expectCode !== undefined) assert.equal(r.code, expectCode, `${what}: ${describeResult(r)}`);
  return r;
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** A secret and the distinctive pieces of it to look for (each line of a key's body). */
function needles(secret: string): string[] {
  const lines = secret
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
  return lines.length > 0 ? lines : [secret.trim()];
}

describe('least privilege and secrets on netns: the chat user, and no secret in any output', { timeout: 300_000 }, () => {
  before(async () => {
    lab = await createLabFixture({ subnet: '198.18.131.0/24', prefix: 'sec' });
    const spec = parse(readFileSync(lab.specFile, 'utf8'));
    spec.redis.source = { tarball: prebuiltRedisTarball(lab.root) };
    writeFileSync(lab.specFile, stringify(spec));
    startSampling();
  });
  after(async () => {
    sampling = false;
    await sampler;
    const forced = await lab.cleanup();
    assert.deepEqual(forced, [], 'teardown left things that cleanup had to force away');
  });

  it('up --verbose builds the lab, and verify proves the chat user connected and limited', async () => {
    const r = await run('up --verbose', ['up', '--verbose', '--clients', '1', '--messages', '10'], 0);
    lab.rememberNamespaces();
    assert.match(r.stdout, /the chat servers connect as Redis user chat\s+pass\s+4 connections \(web1, web2\), all user chat/);
    assert.match(r.stdout, /Redis user chat is limited to the backplane\s+pass\s+ACL DRYRUN refuses CONFIG, FLUSHALL, KEYS, PUBLISH outside its channels/);
  });

  it('the secrets: generated, 0600 in the lab, each machine holding only what it needs', async () => {
    const secrets = path.join(lab.dir, 'secrets');
    const admin = readFileSync(path.join(secrets, 'redis_password'), 'utf8');
    const chat = readFileSync(path.join(secrets, 'redis_chat_password'), 'utf8');
    assert.ok(admin.length >= 32 && chat.length >= 32 && admin !== chat);
    for (const f of readdirSync(secrets)) assert.equal(statSync(path.join(secrets, f)).mode & 0o777, 0o600, f);
    for (const web of ['web1', 'web2']) {
      const file = path.join(lab.dir, 'machines', web, 'etc/labctl-chat/redis.password');
      assert.equal(readFileSync(file, 'utf8'), chat, `${web} has chat's password`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const env = readFileSync(path.join(lab.dir, 'machines', web, 'etc/labctl-chat/app.env'), 'utf8');
      assert.match(env, /^REDIS_USERNAME=chat$/m);
      for (const f of filesUnder(path.join(lab.dir, 'machines', web))) assert.ok(!readFileSync(f, 'latin1').includes(admin), `the administration password is in ${f}`);
    }
    const conf = readFileSync(path.join(lab.dir, 'machines/redis/etc/redis/redis.conf'), 'utf8');
    const hash = createHash('sha256').update(chat).digest('hex');
    assert.match(conf, new RegExp(`^user chat on #${hash} resetkeys resetchannels &ChatApp#/#\\* &ChatApp-request#/# &ChatApp-response#/#\\* -@all \\+publish `, 'm'));
    for (const f of filesUnder(path.join(lab.dir, 'machines/redis'))) assert.ok(!readFileSync(f, 'latin1').includes(chat), `chat's password is in ${f}`);
  });

  it('the commands around it: --json, plan, status, verify, logs, redis-cli, an interrupted up, a failing verify', async () => {
    await run('up --json', ['up', '--json', '--clients', '1', '--messages', '10'], 0);
    await run('plan', ['plan'], 0);
    await run('plan --json', ['plan', '--json'], 0);
    await run('status --json', ['status', '--json'], 0);
    await run('verify --json', ['verify', '--json', '--clients', '1', '--messages', '10'], 0);
    await run('deploy --verbose (nothing to do)', ['deploy', '--verbose'], 0);
    await run('logs redis', ['logs', 'redis', '-n', '200']);
    await run('logs web1', ['logs', 'web1', '-n', '200']);
    const who = await run('redis-cli ACL WHOAMI', ['redis-cli', 'ACL', 'WHOAMI'], 0);
    assert.equal(who.stdout.trim(), 'default', 'labctl redis-cli administers as the default user');
    const users = await run('redis-cli ACL LIST', ['redis-cli', 'ACL', 'LIST'], 0);
    assert.match(users.stdout, /^user chat on #[0-9a-f]{64} /m);
    // an interrupted up: its message
    const child = lab.start(['up', '--clients', '1', '--messages', '10']);
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    child.stdout!.on('data', (c: Buffer) => (stdout += c));
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    await waitFor('up to start deploying', () => /^deploy /m.test(stderr), { timeoutMs: 60_000 });
    child.kill('SIGINT');
    assert.equal(await closed, 130, stderr);
    outputs.push({ what: 'interrupted up (stderr)', text: stderr }, { what: 'interrupted up (stdout)', text: stdout });
    // a failing verify: web2's app stopped
    const pid = readFileSync(path.join(lab.dir, 'machines/web2/run/labctl-chat/app.pid'), 'utf8').trim();
    await run('stop web2 app', ['ssh', 'web2', '--', `kill ${pid}`], 0);
    const failed = await run('verify --json (web2 down)', ['verify', '--json', '--clients', '1', '--messages', '5'], 1);
    assert.match(failed.stdout, /"ok": false/);
    await run('verify (web2 down)', ['verify', '--clients', '1', '--messages', '5'], 1);
    await run('deploy web2', ['deploy', 'web2', '--json'], 0);
  });

  it('no secret appears in any output, log, the journal, or a process\'s command line or environment', async () => {
    sampling = false;
    await sampler;
    const secretsDir = path.join(lab.dir, 'secrets');
    const secrets: { name: string; value: string }[] = readdirSync(secretsDir)
      .filter((f) => !f.endsWith('.pub'))
      .map((f) => ({ name: `secrets/${f}`, value: readFileSync(path.join(secretsDir, f), 'utf8') }));
    for (const m of lab.machines) {
      const key = path.join(lab.dir, 'machines', m.name, 'etc/ssh/ssh_host_ed25519_key');
      secrets.push({ name: `${m.name}'s host key`, value: readFileSync(key, 'utf8') });
    }
    assert.ok(secrets.some((s) => s.name === 'secrets/redis_password') && secrets.some((s) => s.name === 'secrets/redis_chat_password'));

    const logs = lab.machines.flatMap((m) => filesUnder(path.join(lab.dir, 'machines', m.name, 'var/log')));
    assert.ok(logs.some((f) => f.endsWith('redis.log')) && logs.some((f) => f.endsWith('app.log')) && logs.some((f) => f.endsWith('sshd.log')));
    const haystacks = [
      ...outputs,
      ...logs.map((f) => ({ what: path.relative(lab.dir, f), text: readFileSync(f, 'latin1') })),
      { what: 'state.json', text: readFileSync(lab.stateFile, 'utf8') },
      ...[...processes.values()].map((text) => ({ what: text.split('\n')[0]!, text })),
    ];
    const leaks: string[] = [];
    for (const s of secrets) {
      for (const needle of needles(s.value)) {
        for (const h of haystacks) if (h.text.includes(needle)) leaks.push(`${s.name} in ${h.what}`);
      }
    }
    assert.deepEqual([...new Set(leaks)], []);
    // the search itself can fail: each secret is found where it belongs, the sampler saw
    // labctl's commands, and the outputs are there
    const found = (name: string, file: string) =>
      needles(secrets.find((s) => s.name === name)!.value).every((n) => readFileSync(path.join(lab.dir, file), 'latin1').includes(n));
    assert.ok(found('secrets/redis_password', 'machines/redis/etc/redis/redis.conf'), 'the search finds the password in redis.conf');
    assert.ok(found('secrets/redis_chat_password', 'machines/web1/etc/labctl-chat/redis.password'));
    assert.ok(found("web1's host key", 'machines/web1/etc/ssh/ssh_host_ed25519_key'));
    assert.ok([...processes.values()].some((p) => p.includes('bin/labctl') && p.includes(' up ')), 'the sampler saw labctl up running');
    assert.ok([...processes.values()].some((p) => p.includes('redis-server')), 'the sampler saw redis-server');
    assert.ok(outputs.reduce((n, o) => n + o.text.length, 0) > 10_000, 'the outputs were captured');
  });

  it('teardown leaves nothing', async () => {
    await lab.teardown();
    assert.deepEqual(lab.leftovers(), []);
  });
});
