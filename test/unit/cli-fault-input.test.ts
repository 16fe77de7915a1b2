/**
 * verify --fault's bad command lines: each exits 2 with one line saying what is wrong, before
 * anything is measured, and the home stays empty. A provider without fault injection (Hyper-V,
 * for now) says so in one line. The CLI runs in this process; the specs name 198.18.24.0/24 and
 * 198.18.25.0/24 (never created, as in cli-bad-input.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { hasStackTrace, runCli } from '../helpers/cli.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'labctl-fault-input-'));
after(() => rmSync(root, { recursive: true, force: true }));

const spec = path.join(root, 'lab.yaml');
writeFileSync(
  spec,
  [
    'name: faultin-a',
    'provider: netns',
    'network: { subnet: 198.18.24.0/24 }',
    'redis: { version: 7.0.15 }',
    'machines:',
    '  redis: { role: redis, os: ubuntu, ip: 198.18.24.10 }',
    '  web1: { role: web, os: windows, ip: 198.18.24.11 }',
    '  web2: { role: web, os: windows, ip: 198.18.24.12 }',
    '',
  ].join('\n'),
);
const hypervSpec = path.join(root, 'hyperv.yaml');
writeFileSync(
  hypervSpec,
  [
    'name: faultin-h',
    'provider: hyperv',
    'network: { subnet: 198.18.25.0/24 }',
    'redis: { version: 7.0.15 }',
    'machines:',
    '  redis: { role: redis, os: ubuntu, ip: 198.18.25.10 }',
    '  web1: { role: web, os: windows, ip: 198.18.25.11, disk: 40GB }',
    'hyperv: { ubuntuIso: C:\\iso\\ubuntu.iso, windowsIso: C:\\iso\\windows.iso, vmPath: C:\\vms }',
    '',
  ].join('\n'),
);

/** a Redis Cluster, masters only or with a replica each (198.18.26.0/24, never created) */
function clusterSpec(file: string, name: string, replicas: number): string {
  const redis = Array.from({ length: 3 * (1 + replicas) }, (_, i) => `  redis${i + 1}: { role: redis, os: ubuntu, ip: 198.18.26.${10 + i} }`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      'provider: netns',
      'network: { subnet: 198.18.26.0/24 }',
      `redis: { version: 7.0.15, topology: cluster, masters: 3, replicasPerMaster: ${replicas} }`,
      'machines:',
      ...redis,
      '  web1: { role: web, os: ubuntu, ip: 198.18.26.21 }',
      '  web2: { role: web, os: ubuntu, ip: 198.18.26.22 }',
      '',
    ].join('\n'),
  );
  return file;
}
const clusterNoReplicas = clusterSpec(path.join(root, 'cluster0.yaml'), 'faultin-c0', 0);
const clusterReplicas = clusterSpec(path.join(root, 'cluster1.yaml'), 'faultin-c1', 1);

const CASES: { args: string[]; line: RegExp; spec?: string }[] = [
  { args: ['--fault', 'nope'], line: /option '--fault <kind>' argument 'nope' is invalid\. must be one of redis-restart, web-kill, link-cut/ },
  { args: ['--fault'], line: /option '--fault <kind>' argument missing/ },
  { args: ['--fault-target', 'web1'], line: /^labctl: --fault-target needs --fault redis-restart\|web-kill\|link-cut$/ },
  { args: ['--fault-for', '3'], line: /^labctl: --fault-for needs --fault link-cut$/ },
  { args: ['--fault', 'redis-restart', '--fault-for', '2'], line: /^labctl: --fault-for applies to --fault link-cut, not redis-restart$/ },
  { args: ['--fault', 'link-cut', '--fault-for', '0'], line: /'--fault-for <seconds>' argument '0' is invalid\. must be a whole number from 1 to 30/ },
  { args: ['--fault', 'link-cut', '--fault-for', '31'], line: /'--fault-for <seconds>' argument '31' is invalid/ },
  { args: ['--fault', 'redis-restart', '--fault-target', 'web1'], line: /^labctl: --fault redis-restart restarts Redis: web1 is a web machine \(the redis machine is redis\)$/ },
  { args: ['--fault', 'web-kill', '--fault-target', 'redis'], line: /^labctl: --fault web-kill kills a web node's chat app: redis is a redis machine \(web: web1, web2\)$/ },
  { args: ['--fault', 'link-cut', '--fault-target', 'web9'], line: /^labctl: --fault-target: no machine named "web9" in lab faultin-a \(machines: redis, web1, web2\)$/ },
  { args: ['--fault', 'web-kill', '--messages', '10'], line: /^labctl: --messages 10 at --rate 16\/s lasts 0\.6 s: a --fault web-kill run needs at least 13 s \(--messages 208 or more, or leave --messages out\)$/ },
  { args: ['--fault', 'link-cut', '--fault-for', '10', '--messages', '300'], line: /^labctl: --messages 300 at --rate 16\/s lasts 18\.8 s: a --fault link-cut run needs at least 21 s/ },
  { args: ['--fault', 'redis-restart', '--browser'], line: /^labctl: --fault and --browser cannot be combined: run verify --browser on its own$/ },
  { args: ['--fault', 'redis-restart'], spec: hypervSpec, line: /^labctl: verify --fault is not supported on the hyperv provider yet \(the netns provider implements it\)$/ },
  { args: ['--fault', 'redis-failover'], line: /^labctl: --fault redis-failover needs a Redis Cluster: lab faultin-a has redis\.topology single$/ },
  { args: ['--fault', 'redis-failover'], spec: clusterNoReplicas, line: /^labctl: --fault redis-failover needs a replica to promote: lab faultin-c0 has redis\.replicasPerMaster 0$/ },
  { args: ['--fault', 'redis-failover', '--fault-target', 'redis1'], spec: clusterReplicas, line: /^labctl: --fault-target does not apply to --fault redis-failover: it kills the master of the chat channel's shard, found when it runs$/ },
  { args: ['--fault', 'redis-failover', '--messages', '100'], spec: clusterReplicas, line: /^labctl: --messages 100 at --rate 16\/s lasts 6\.3 s: a --fault redis-failover run needs at least 21 s/ },
  { args: ['--fault', 'redis-failover'], spec: clusterReplicas, line: /^labctl: lab faultin-c1 is not created: run labctl up$/ },
  // valid fault options on a lab that does not exist: the lab's absence is what is said
  { args: ['--fault', 'web-kill', '--fault-target', 'web2'], line: /^labctl: lab faultin-a is not created: run labctl up$/ },
];

describe('verify --fault: bad command lines exit 2 with one line, nothing made', () => {
  for (const c of CASES) {
    test(c.args.join(' '), async () => {
      const home = mkdtempSync(path.join(root, 'home-'));
      const r = await runCli(['--home', home, '--spec', c.spec ?? spec, 'verify', ...c.args]);
      assert.equal(r.code, 2, `${r.stdout}${r.stderr}`);
      assert.ok(!hasStackTrace(r.stderr), r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l && l !== '(run labctl --help for usage)');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, c.line);
      assert.deepEqual(readdirSync(home), [], 'nothing made in the home');
    });
  }

  test('verify --help shows the fault options with examples', async () => {
    const r = await runCli(['verify', '--help']);
    assert.equal(r.code, 0);
    for (const s of ['--fault <kind>', '--fault-target <machine>', '--fault-for <seconds>', 'labctl verify --fault redis-restart', 'labctl verify --fault web-kill --fault-target web2 --json', 'labctl verify --fault link-cut --fault-target web1 --fault-for 2', 'labctl verify --fault redis-failover']) {
      assert.ok(r.stdout.includes(s), `help mentions ${s}`);
    }
  });
});
