/**
 * scripts/soak.mjs (issue 11, part 7), shortened: 45 s on the streams backplane with Redis
 * restarted every 10 s (twice), on its own lab (198.18.141.0/24, Redis from a "prebuilt" source
 * tarball, no compile). It must report sent / received / lost / duplicated (streams: none lost,
 * none twice), each restart's reconnect times and each app's memory at start and end, and leave
 * nothing behind. Bad arguments: exit 2, one line. If the script dies, after() removes its lab by
 * force (the name is on its first line of stderr).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli.js';
import { prebuiltRedisTarball } from '../helpers/fake-redis-source.js';
import { forceCleanup, leftovers, type LabIdentity } from '../helpers/leftovers.js';

const SUBNET = '198.18.141.0/24';

function runSoak(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/soak.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    // SIGTERM first: the script tears its lab down on it
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('scripts/soak.mjs', { timeout: 170_000 }, () => {
  const sources = mkdtempSync(path.join(os.tmpdir(), 'labctl-soak-src-'));
  let lab: LabIdentity | undefined;
  after(() => {
    const forced = lab ? forceCleanup(lab) : [];
    rmSync(sources, { recursive: true, force: true });
    assert.deepEqual(forced, [], 'the soak left things behind that had to be removed by force');
  });

  test('bad arguments: exit 2, one line, nothing made', async () => {
    for (const [args, line] of [
      [['--minutes', '0'], /^soak: --minutes must be a number from 0\.25 to 120, got "0"$/],
      [['--backplane', 'kafka'], /^soak: --backplane must be both, pubsub or streams, got "kafka"$/],
      [['--subnet', '10.0.0.0/24'], /^soak: --subnet must be a \/24 of 198\.18\.0\.0\/15/],
      [['--minutes', '0.5', '--restart-every', '60'], /^soak: 0\.5 min for 2 backplane\(s\) leaves 15 s each: less than one restart/],
      [['--frobnicate'], /^soak: unknown argument "--frobnicate"/],
    ] as const) {
      const r = await runSoak([...args], 10_000);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), line);
    }
  });

  test('45 s of streams with two Redis restarts: nothing lost, reconnect times and memory reported, nothing left', async () => {
    const tarball = prebuiltRedisTarball(sources);
    const r = await runSoak(['--minutes', '0.75', '--restart-every', '10', '--backplane', 'streams', '--subnet', SUBNET, '--redis-tarball', tarball, '--json'], 150_000);
    const first = /^soak: lab (\S+) on \S+ \(home (\S+)\)$/m.exec(r.stderr);
    assert.ok(first, r.stderr);
    lab = { name: first[1]!, subnet: SUBNET, home: first[2]!, specFile: path.join(path.dirname(first[2]!), 'soak.yaml') };
    assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, true, out.error);
    assert.equal(out.results.length, 1);
    const s = out.results[0];
    assert.equal(s.backplane, 'streams');
    assert.equal(s.sent, 4 * 720, '2 clients on each of 2 nodes, 16/s for 45 s');
    assert.equal(s.lost, 0);
    assert.equal(s.duplicated, 0);
    assert.equal(s.outOfOrder, 0);
    assert.equal(s.received, s.expected);
    assert.equal(s.restarts.length, 2, 'restarted at 10 s and 20 s (not at 30 s: less than 20 s of sending after it)');
    for (const x of s.restarts) {
      assert.ok(x.redisBackMs > 0 && x.redisBackMs < 5000, JSON.stringify(x));
      for (const node of ['web1', 'web2']) {
        assert.ok(x.appsConnectedAfterMs[node] !== null && x.appsConnectedAfterMs[node] < 5000, `${node} reconnected: ${JSON.stringify(x)}`);
        assert.ok(x.deliveryResumedAfterMs[node] !== null && x.deliveryResumedAfterMs[node] < 5000, `${node} delivery resumed: ${JSON.stringify(x)}`);
      }
    }
    for (const node of ['web1', 'web2']) {
      const m = s.memory[node];
      assert.ok(m.start.rssMiB > 10 && m.end.rssMiB > 10, `${node} memory: ${JSON.stringify(m)}`);
      assert.equal(m.start.pid, m.end.pid, 'the same app process from start to end');
      assert.equal(m.samplesMiB.length, 4, 'start, before each of the 2 restarts, end');
    }
    console.log(`soak streams 45 s: ${s.received}/${s.expected}; ${s.restarts.map((x: any) => `Redis back ${x.redisBackMs} ms, apps ${Object.values(x.appsConnectedAfterMs).join('/')} ms`).join('; ')}; memory ${['web1', 'web2'].map((n) => `${n} ${s.memory[n].start.rssMiB}→${s.memory[n].end.rssMiB} MiB`).join(', ')}`);
    assert.deepEqual(leftovers(lab), [], 'the soak tore its lab down');
    assert.equal(existsSync(first[2]!), false, 'and removed its folder');
  });
});
