/**
 * redis.topology cluster in the spec (issue 13, part 2): the shape of a valid cluster spec, and
 * every wrong one refused by `labctl validate` with exit 2 and one line per problem. single stays
 * the default and keeps exactly one redis machine.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { describeResult, hasStackTrace, runCli } from '../helpers/cli.js';
import { loadSpec } from '../../src/spec/load.js';
import { clusterMasters, redisMachine, redisMachines } from '../../src/spec/types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-spec-cluster-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A valid cluster spec: 3 masters, no replicas, 2 web machines. */
function cluster(nodes = 3): Record<string, any> {
  const machines: Record<string, any> = {};
  for (let i = 1; i <= nodes; i++) machines[`redis${i}`] = { role: 'redis', os: 'ubuntu', ip: `198.18.22.${10 + i}` };
  machines.web1 = { role: 'web', os: 'ubuntu', ip: '198.18.22.31' };
  machines.web2 = { role: 'web', os: 'ubuntu', ip: '198.18.22.32' };
  return { name: 'cluster-test', network: { subnet: '198.18.22.0/24' }, redis: { version: '7.0.15', topology: 'cluster' }, machines };
}

let counter = 0;
function write(spec: Record<string, any>): string {
  const file = path.join(dir, `${++counter}.yaml`);
  writeFileSync(file, stringify(spec));
  return file;
}

describe('a valid cluster spec', () => {
  test('3 masters by default, no replicas; the masters are the first redis machines in spec order', () => {
    const spec = loadSpec(write(cluster()));
    assert.equal(spec.redis.topology, 'cluster');
    assert.equal(spec.redis.masters, 3);
    assert.equal(spec.redis.replicasPerMaster, 0);
    assert.deepEqual(redisMachines(spec).map((m) => m.name), ['redis1', 'redis2', 'redis3']);
    assert.equal(redisMachine(spec).name, 'redis1');
  });

  test('3 masters + 1 replica each: 6 machines, the first 3 masters', () => {
    const s = cluster(6);
    s.redis.replicasPerMaster = 1;
    const spec = loadSpec(write(s));
    assert.deepEqual(clusterMasters(spec).map((m) => m.name), ['redis1', 'redis2', 'redis3']);
    assert.equal(redisMachines(spec).length, 6);
  });

  test('topology defaults to single', () => {
    const s = cluster(1);
    delete s.redis.topology;
    const spec = loadSpec(write(s));
    assert.equal(spec.redis.topology, 'single');
  });

  test('plan prints the layout before anything exists: masters, then each replica with its master (i mod masters)', async () => {
    const s = cluster(6);
    s.redis.replicasPerMaster = 1;
    const file = write(s);
    const home = path.join(dir, 'plan-home');
    const r = await runCli(['--spec', file, '--provider', 'netns', '--home', home, 'plan']);
    assert.equal(r.code, 0, describeResult(r));
    assert.match(r.stdout, /^  redis cluster: masters redis1 198\.18\.22\.11, redis2 198\.18\.22\.12, redis3 198\.18\.22\.13, replicas redis4 of redis1, redis5 of redis2, redis6 of redis3; port 6379, bus 16379$/m);
    assert.match(r.stdout, /Redis Cluster: 3 masters \+ 3 replicas over redis1, redis2, redis3, redis4, redis5, redis6/);
    const j = JSON.parse((await runCli(['--spec', file, '--provider', 'netns', '--home', home, 'plan', '--json'])).stdout);
    assert.deepEqual(j.redis.replicas.map((x: { name: string; of: string }) => `${x.name}>${x.of}`), ['redis4>redis1', 'redis5>redis2', 'redis6>redis3']);
  });

  test('examples/cluster.yaml validates', async () => {
    const r = await runCli(['--spec', path.resolve('examples/cluster.yaml'), 'validate']);
    assert.equal(r.code, 0, describeResult(r));
  });
});

const bad: { name: string; edit: (s: Record<string, any>) => void; line: RegExp }[] = [
  { name: 'too few machines for the masters', edit: (s) => delete s.machines.redis3, line: /^machines: redis\.topology cluster with 3 masters, no replicas needs exactly 3 machines with role redis, the spec has 2 \(redis1, redis2\)$/ },
  {
    name: 'replicas without the machines for them',
    edit: (s) => (s.redis.replicasPerMaster = 1),
    line: /^machines: redis\.topology cluster with 3 masters x \(1 \+ 1 replica\) needs exactly 6 machines with role redis, the spec has 3/,
  },
  { name: 'fewer than 3 masters', edit: (s) => (s.redis.masters = 2), line: /^redis\.masters: .*at least 3/ },
  { name: 'two replicas per master', edit: (s) => (s.redis.replicasPerMaster = 2), line: /^redis\.replicasPerMaster: must be at most 1/ },
  { name: 'masters not an integer', edit: (s) => (s.redis.masters = 3.5), line: /^redis\.masters: / },
  {
    name: 'cluster with the streams backplane',
    edit: (s) => (s.redis.backplane = 'streams'),
    line: /^redis\.topology: cluster cannot be used with redis\.backplane: streams/,
  },
  { name: 'cluster on Redis 6', edit: (s) => (s.redis.version = '6.2.14'), line: /^redis\.version: 6\.2\.14 has no sharded pub\/sub/ },
  { name: 'cluster bus port out of range', edit: (s) => (s.redis.port = 60000), line: /^redis\.port: .*cluster bus.*55535/ },
  {
    name: 'masters with topology single',
    edit: (s) => {
      s.redis.topology = 'single';
      s.redis.masters = 3;
      delete s.machines.redis2;
      delete s.machines.redis3;
    },
    line: /^redis\.masters: only allowed with redis\.topology: cluster/,
  },
  {
    name: 'replicasPerMaster with topology left at its default',
    edit: (s) => {
      delete s.redis.topology;
      s.redis.replicasPerMaster = 0;
      delete s.machines.redis2;
      delete s.machines.redis3;
    },
    line: /^redis\.replicasPerMaster: only allowed with redis\.topology: cluster/,
  },
  {
    name: 'several redis machines with topology single',
    edit: (s) => delete s.redis.topology,
    line: /^machines\.redis2\.role: a second machine with role redis \(redis1, redis2, redis3\): exactly one is supported with redis\.topology single/,
  },
  {
    name: 'a topology that does not exist',
    edit: (s) => {
      s.redis.topology = 'sentinel';
      delete s.machines.redis2;
      delete s.machines.redis3;
    },
    line: /^redis\.topology: .*"single".*"cluster"/,
  },
];

describe('bad cluster specs: validate exits 2 with exactly one line naming the problem', () => {
  for (const c of bad) {
    test(c.name, async () => {
      const s = cluster();
      c.edit(s);
      const file = write(s);
      const r = await runCli(['--spec', file, 'validate']);
      assert.equal(r.code, 2, describeResult(r));
      assert.equal(hasStackTrace(r.stdout + r.stderr), false, describeResult(r));
      const lines = r.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 1, describeResult(r));
      const line = lines[0]!.slice(`${file}:`.length).replace(/ \(line \d+\)$/, '');
      assert.match(line, c.line, describeResult(r));
    });
  }
});
