/**
 * A Redis Cluster spec on Hyper-V, as far as the fake host goes (test/unit/hyperv-fakes.ts): each
 * redis machine is one more Ubuntu VM through the same autoinstall path (create runs on the fake
 * host to the end), and deploy's steps are there for every node: the other nodes wait for the
 * first node's build (build cache), ufw opens the cluster bus to the other redis VMs only, the
 * cluster is formed once every node's redis-server runs, and the Windows web VMs' web.config names
 * the cluster's nodes. Nothing here runs Redis on a VM: that is planned, not tested on a real host
 * (docs/hyperv.md).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { runSteps } from '../../src/engine/runner.js';
import { deploySteps } from '../../src/roles/index.js';
import { CLUSTER_CREATE_STEP } from '../../src/roles/redis/cluster.js';
import { renderWebConfig } from '../../src/roles/web-windows/index.js';
import { testLab, type TestLab } from './hyperv-fakes.js';

const SPEC = `
name: hvcluster
network: { subnet: 198.18.40.0/24 }
redis: { version: 7.0.15, topology: cluster, masters: 3 }
machines:
  redis1: { role: redis, os: ubuntu, ip: 198.18.40.21, cpus: 2, memory: 2GB, disk: 20GB }
  redis2: { role: redis, os: ubuntu, ip: 198.18.40.22, cpus: 2, memory: 2GB, disk: 20GB }
  redis3: { role: redis, os: ubuntu, ip: 198.18.40.23, cpus: 2, memory: 2GB, disk: 20GB }
  web1:  { role: web, os: windows, ip: 198.18.40.11, cpus: 2, memory: 4GB, disk: 40GB }
hyperv:
  ubuntuIso: C:\\iso\\ubuntu-24.04-live-server-amd64.iso
  windowsIso: C:\\iso\\windows-server-2022.iso
  vmPath: C:\\labctl\\vms
`;

const labs: TestLab[] = [];
after(() => labs.forEach((l) => l.cleanup()));

describe('a Redis Cluster spec on Hyper-V (fake host)', () => {
  test('create: each redis machine is an Ubuntu VM installed through the same autoinstall steps', async () => {
    const l = testLab(SPEC);
    labs.push(l);
    const steps = l.provider.createSteps(l.lab);
    const kinds = (m: string) => steps.filter((s) => s.machine === m).map((s) => s.id.split(':').pop()).sort();
    assert.ok(kinds('redis1').length >= 8, kinds('redis1').join(', '));
    for (const m of ['redis2', 'redis3']) assert.deepEqual(kinds(m), kinds('redis1'), m);
    await runSteps(steps, { store: l.lab.store, concurrency: 1 });
    const vms = [...l.host.vms.values()].map((v) => v.name).sort();
    for (const m of ['redis1', 'redis2', 'redis3', 'web1']) assert.ok(vms.some((n) => n.endsWith(`-${m}`)), `${m} VM: ${vms.join(', ')}`);
    const macs = new Set([...l.host.vms.values()].map((v: any) => v.adapters?.[0]?.mac ?? v.mac).filter(Boolean));
    assert.equal(macs.size, l.host.vms.size, 'every VM its own MAC');
  });

  test('deploy: Redis on every node, the others after the first one\'s build, ufw with the bus for the peers, the cluster formed before the web app', () => {
    const l = testLab(SPEC);
    labs.push(l);
    const steps = deploySteps(l.lab, l.provider);
    const step = (id: string) => {
      const s = steps.find((x) => x.id === id);
      assert.ok(s, `no step ${id}: ${steps.map((x) => x.id).join(', ')}`);
      return s;
    };
    for (const m of ['redis2', 'redis3']) {
      assert.ok(step(`redis:${m}:build`).deps!.includes('redis:redis1:build'), `${m} waits for redis1's build`);
      const ufw = step(`redis:${m}:firewall`).describe!().command!;
      const peers = ['198.18.40.21', '198.18.40.22', '198.18.40.23'].filter((ip) => ip !== `198.18.40.2${m.slice(-1)}`);
      assert.equal(ufw, `sh templates/redis/ufw.sh 198.18.40.0/24 6379 16379 ${peers.join(' ')}`);
    }
    assert.deepEqual(step(CLUSTER_CREATE_STEP).deps, ['redis:redis1:service', 'redis:redis2:service', 'redis:redis3:service']);
    assert.match(step(CLUSTER_CREATE_STEP).describe!().command!, /redis-cli \S*password 3 30 198\.18\.40\.21:6379 198\.18\.40\.22:6379 198\.18\.40\.23:6379$/);
    const app = steps.filter((s) => s.machine === 'web1' && s.deps?.includes(CLUSTER_CREATE_STEP));
    assert.ok(app.length > 0, 'a web1 step waits for the cluster');
    const xml = renderWebConfig(l.lab, l.lab.spec.machines.find((m) => m.name === 'web1')!);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(xml);
    const settings = Object.fromEntries((doc.configuration.appSettings.add as any[]).map((a) => [a['@key'], a['@value']]));
    assert.equal(settings.REDIS_TOPOLOGY, 'cluster');
    assert.equal(settings.REDIS_NODES, '198.18.40.21:6379,198.18.40.22:6379,198.18.40.23:6379');
  });
});
