/**
 * The bridge from the simulated host to real sockets (bridge.ts), on a hand-written host
 * state: a host adapter with the lab's gateway becomes a Linux bridge; a booted Ubuntu VM a
 * namespace whose sshd answers with the seed's host key and user; a wrong MAC in the seed
 * means no network; stopping the VM or the bridge removes everything. Needs root (namespaces).
 * Subnet 198.18.60.0/24 (test/helpers/README.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { renderUserData } from '../../src/providers/hyperv/seed.js';
import { generateSshKeyPair, SshTransport } from '../../src/transports/ssh.js';
import type { MachineSpec } from '../../src/spec/types.js';
import { waitFor } from '../helpers/wait.js';
import { SimNetworkBridge } from './bridge.js';
import { SimHost } from './host.js';

const MAC = '00155D3C0A11';
const client = generateSshKeyPair('labctl test client');
const hostKey = generateSshKeyPair('redis.simlab');

function userData(mac: string): string {
  const machine = { name: 'redis', role: 'redis', os: 'ubuntu', ip: '198.18.60.10' } as MachineSpec;
  return renderUserData({
    lab: 'simlab',
    machine,
    mac,
    prefix: 24,
    gateway: '198.18.60.1',
    dns: ['198.18.60.1'],
    user: 'labctl',
    authorizedKey: client.publicKey,
    hostKey,
  });
}

function withVm(state: any, id: string, mac: string, running = true): void {
  state.switches.push({ id: 'sw1', name: 'labctl-simlab', type: 'Internal', notes: 'labctl:simlab', hostIfIndex: 11 });
  state.host.adapters.push({ ifIndex: 11, name: 'vEthernet (labctl-simlab)', mac: '00-15-5D-AA-00-01', status: 'Up', kind: 'vnic', switchName: 'labctl-simlab', dhcp: false, ips: [{ ip: '198.18.60.1', prefix: 24 }], dns: [] });
  state.vms.push({
    id,
    name: `labctl-simlab-redis-${id}`,
    state: running ? 'Running' : 'Off',
    adapters: [{ id: 'a1', name: 'Network Adapter', mac, staticMac: true, switchName: 'labctl-simlab' }],
    guest: { os: 'ubuntu', phase: 'ready', userData: userData(MAC), ipv4: ['198.18.60.10'] },
  });
}

async function sshAs(user: string, key: string, pinned: string) {
  return SshTransport.connect({ name: 'redis', host: '198.18.60.10', username: user, privateKey: key, hostKey: pinned }, 4000);
}

describe('simulated VMs on real sockets', () => {
  let host: SimHost;
  let bridge: SimNetworkBridge;
  before(() => {
    host = new SimHost();
    bridge = new SimNetworkBridge(host, { intervalMs: 100 });
    bridge.start();
  });
  after(async () => {
    await bridge?.stop();
    const left = await bridge?.leftovers();
    await host?.dispose();
    assert.deepEqual(left, [], 'the bridge removed everything it made');
  });

  test("a booted Ubuntu VM answers SSH with the seed's host key, as the seed's user; stopping it takes it off the network", async () => {
    host.update((s) => withVm(s, 'vm1', MAC));
    const t = await waitFor(`sshd of the simulated Ubuntu VM (bridge: ${bridge.problems.join('; ') || 'no problem'})`, () => sshAs('labctl', client.privateKey, hostKey.publicKey), {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    try {
      const r = await t.exec('id -un');
      assert.equal(r.stdout.trim(), 'labctl');
    } finally {
      await t.close();
    }
    await assert.rejects(sshAs('labctl', client.privateKey, generateSshKeyPair('other').publicKey), /host key that is not the one labctl recorded/);
    await assert.rejects(sshAs('labctl', generateSshKeyPair('stranger').privateKey, hostKey.publicKey), /authentication|All configured/i);

    host.update((s) => {
      s.vms[0].state = 'Off';
    });
    await bridge.settle();
    assert.equal(bridge.namespaceOf('labctl-simlab-redis-vm1'), undefined);
    await assert.rejects(sshAs('labctl', client.privateKey, hostKey.publicKey));
  });

  test('a seed whose netplan names another MAC gives the VM no address (as on Hyper-V)', async () => {
    host.update((s) => {
      s.vms = [];
      s.switches = [];
      s.host.adapters = s.host.adapters.filter((a: any) => a.kind !== 'vnic');
      withVm(s, 'vm2', '00155D3C0AFF');
    });
    await bridge.settle();
    assert.equal(bridge.namespaceOf('labctl-simlab-redis-vm2'), undefined, 'no namespace: nothing answers on the address');
  });
});

describe('what a killed run left', () => {
  test('a link and a namespace a dead process made are removed when the next bridge starts; a live one\'s are not', async () => {
    const { execFileSync } = await import('node:child_process');
    const { existsSync, mkdirSync, writeFileSync } = await import('node:fs');
    const registry = '/run/labctl-sim-bridge';
    mkdirSync(registry, { recursive: true });
    const dead = 'lsbdeadtest0';
    const deadNs = 'lsg-deadtest0';
    const live = 'lsblivetest0';
    const host = new SimHost();
    const bridge = new SimNetworkBridge(host, { intervalMs: 100 });
    try {
      execFileSync('ip', ['link', 'add', dead, 'type', 'bridge']);
      execFileSync('ip', ['netns', 'add', deadNs]);
      execFileSync('ip', ['link', 'add', live, 'type', 'bridge']);
      // a pid past the kernel's pid_max is never alive
      writeFileSync(`${registry}/${dead}`, '4194305 link\n');
      writeFileSync(`${registry}/${deadNs}`, '4194305 netns\n');
      writeFileSync(`${registry}/${live}`, `${process.pid} link\n`);
      bridge.start();
      // each is deleted, then its registry entry: wait for the last of them
      const gone = () => !linkExists(dead) && !existsSync(`/run/netns/${deadNs}`) && !existsSync(`${registry}/${dead}`) && !existsSync(`${registry}/${deadNs}`);
      await waitFor('the dead run\'s link, namespace and their registry entries gone', () => (gone() ? true : undefined), { timeoutMs: 10_000 });
      assert.ok(linkExists(live), 'a live process\'s link is left alone');
      assert.ok(existsSync(`${registry}/${live}`), 'and so is its registry entry');
    } finally {
      await bridge.stop();
      await host.dispose();
      for (const l of [dead, live]) spawnSyncQuiet('ip', ['link', 'del', l]);
      spawnSyncQuiet('ip', ['netns', 'del', deadNs]);
      for (const f of [dead, deadNs, live]) spawnSyncQuiet('rm', ['-f', `${registry}/${f}`]);
    }
  });
});

function linkExists(name: string): boolean {
  return spawnSyncQuiet('ip', ['link', 'show', name]) === 0;
}

function spawnSyncQuiet(file: string, args: string[]): number | null {
  return spawnSync(file, args, { stdio: 'ignore' }).status;
}
