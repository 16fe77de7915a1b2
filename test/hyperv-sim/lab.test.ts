/**
 * `labctl create`, `ssh`, `teardown` with --provider hyperv, end to end, as a user runs them
 * (labctl as a child process), against the simulated Hyper-V host in real PowerShell 7 — the
 * code path of a Windows host, only LABCTL_POWERSHELL differs — with the bridge giving the
 * booted VMs real namespaces: the Ubuntu VM's SSH readiness is a real sshd with the seed's
 * host key; a Windows VM's PowerShell Direct is the simulator's. Needs root. Subnet
 * 198.18.61.0/24 (test/helpers/README.md).
 *
 * Where the simulation ends: the Ubuntu VM is a namespace with sshd, not Ubuntu (no systemd,
 * apt or ufw), so the Redis role is not deployed here; the web role's own test is
 * webdeploy.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeResult, labctl, startLabctl, waitForChild, type CliResult } from '../helpers/cli.js';
import { SimNetworkBridge } from './bridge.js';
import { FAST, sleep } from './fixtures.js';
import { SimHost, type SimState } from './host.js';

const UBUNTU_ISO = 'C:\\labctl\\iso\\ubuntu-24.04.3-live-server-amd64.iso';
const WINDOWS_ISO = 'C:\\labctl\\iso\\windows-server-2022.iso';

function specText(name: string, timeouts = '{ install: 60s, boot: 30s, ready: 30s, poll: 300ms }'): string {
  return `name: ${name}
network: { subnet: 198.18.61.0/24 }
redis: { version: 7.0.15 }
machines:
  redis: { role: redis, os: ubuntu,  ip: 198.18.61.10, cpus: 2, memory: 2GB, disk: 20GB }
  web1:  { role: web,   os: windows, ip: 198.18.61.11, cpus: 2, memory: 4GB, disk: 40GB }
  web2:  { role: web,   os: windows, ip: 198.18.61.12, cpus: 2, memory: 4GB, disk: 40GB }
hyperv:
  ubuntuIso: ${UBUNTU_ISO}
  windowsIso: ${WINDOWS_ISO}
  vmPath: C:\\labctl\\vms
  dns: [198.18.61.1]
  timeouts: ${timeouts}
`;
}

/** The host as labctl found it, without what changes by itself (clocks, counters). */
function hostShape(s: SimState): unknown {
  return {
    vms: (s.vms ?? []).map((v: any) => v.name).sort(),
    switches: (s.switches ?? []).map((x: any) => x.name).sort(),
    nats: (s.nats ?? []).map((n: any) => `${n.name} ${n.prefix}`).sort(),
    adapters: (s.host.adapters ?? []).map((a: any) => `${a.name} ${(a.ips ?? []).map((i: any) => `${i.ip}/${i.prefix}`).join(',')}`).sort(),
    drives: Object.keys(s.host.drives ?? {}).sort(),
    mounted: (s.disks ?? []).filter((d: any) => d.mounted).map((d: any) => d.path),
    images: (s.images ?? []).map((i: any) => i.path),
  };
}

describe('labctl on a simulated Hyper-V host', () => {
  let host: SimHost;
  let bridge: SimNetworkBridge;
  let dir: string;
  let spec: string;
  let home: string;
  let pristine: unknown;
  const run = (args: string[], timeoutMs = 240_000): Promise<CliResult> =>
    labctl(['--spec', spec, '--home', home, '--provider', 'hyperv', ...args], { env: host.env(), timeoutMs });

  before(() => {
    host = new SimHost({ timing: FAST });
    host.putUbuntuIso(UBUNTU_ISO);
    host.putWindowsIso(WINDOWS_ISO);
    bridge = new SimNetworkBridge(host, { intervalMs: 100 });
    bridge.start();
    dir = mkdtempSync(path.join(os.tmpdir(), 'labctl-hvlab-'));
    spec = path.join(dir, 'lab.yaml');
    home = path.join(dir, 'home');
    writeFileSync(spec, specText('simhv'));
    pristine = hostShape(host.read());
  });

  after(async () => {
    // whatever a failed test left: labctl's own teardown first, then the bridge
    if (host) await labctl(['--spec', spec, '--home', home, '--provider', 'hyperv', 'teardown', '--yes'], { env: host.env(), timeoutMs: 240_000 }).catch(() => {});
    await bridge?.stop();
    const left = await bridge?.leftovers();
    await host?.dispose();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left ?? [], [], 'the bridge removed every namespace and link');
  });

  test('create builds the whole lab: network, base image, three VMs through every phase; SSH to the Ubuntu VM is real', async () => {
    const r = await run(['create']);
    assert.equal(r.code, 0, `${describeResult(r)}\nbridge: ${bridge.problems.join('; ') || 'no problem'}`);
    const s = host.read();
    const vms = Object.fromEntries((s.vms as any[]).map((v) => [v.name, v]));
    for (const name of ['labctl-simhv-redis', 'labctl-simhv-web1', 'labctl-simhv-web2']) {
      assert.equal(vms[name]?.state, 'Running', `${name} runs`);
      assert.equal(vms[name]?.guest?.phase, 'ready', `${name} finished its setup`);
    }
    assert.equal(vms['labctl-simhv-redis'].firmware.template, 'MicrosoftUEFICertificateAuthority');
    assert.deepEqual(vms['labctl-simhv-redis'].dvds ?? [], [], 'installer and seed discs removed');
    assert.equal(vms['labctl-simhv-web1'].guest.computerName, 'WEB1');
    assert.deepEqual(
      (s.switches as any[]).map((x) => [x.name, x.type]),
      [['labctl-simhv', 'Internal']],
    );
    assert.deepEqual(
      (s.nats as any[]).map((n) => [n.name, n.prefix]),
      [['labctl-simhv', '198.18.61.0/24']],
    );
    // real: the seed's host key and user, through labctl's own pinned SSH
    const who = await run(['ssh', 'redis', '--', 'id', '-un']);
    assert.equal(who.code, 0, describeResult(who));
    assert.equal(who.stdout.trim(), 'labctl');
  });

  test('a second create checks everything and changes nothing on the host', async () => {
    const before = hostShape(host.read());
    const r = await run(['create']);
    assert.equal(r.code, 0, describeResult(r));
    assert.deepEqual(hostShape(host.read()), before);
  });

  test('labctl ssh web1 runs a PowerShell command in the Windows VM over PowerShell Direct, with its exit code', async () => {
    const name = await run(['ssh', 'web1', '$env:COMPUTERNAME']);
    assert.equal(name.code, 0, describeResult(name));
    assert.equal(name.stdout.trim(), 'WEB1');
    const failing = await run(['ssh', 'web1', 'exit 3']);
    assert.equal(failing.code, 3, describeResult(failing));
  });

  test('status reads every VM from the host', async () => {
    const r = await run(['status', '--json']);
    assert.equal(r.code, 0, describeResult(r));
    const machines = JSON.parse(r.stdout).machines as { name: string; state: string }[];
    assert.deepEqual(
      machines.map((m) => [m.name, m.state]),
      [
        ['redis', 'running'],
        ['web1', 'running'],
        ['web2', 'running'],
      ],
    );
  });

  test('teardown removes what the lab made and leaves the host as it was (the cached base image stays)', async () => {
    const r = await run(['teardown', '--yes']);
    assert.equal(r.code, 0, describeResult(r));
    assert.deepEqual(hostShape(host.read()), pristine);
    const again = await run(['teardown', '--yes']);
    assert.equal(again.code, 0, describeResult(again));
  });

  test('a create killed mid-way resumes: the next create finishes, and teardown leaves nothing', async () => {
    const child = startLabctl(['--spec', spec, '--home', home, '--provider', 'hyperv', 'create'], { env: host.env() });
    // kill it once the first VM exists and is running (mid-way through the machines)
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(host.read().vms ?? []).some((v: any) => v.state === 'Running')) await sleep(100);
    child.kill('SIGKILL');
    await waitForChild(child);
    const resumed = await run(['create']);
    assert.equal(resumed.code, 0, describeResult(resumed));
    const down = await run(['teardown', '--yes']);
    assert.equal(down.code, 0, describeResult(down));
    assert.deepEqual(hostShape(host.read()), pristine);
  });

  test('a Windows VM that never finishes setup is diagnosed by its phase, not just "timed out"', async () => {
    // Windows setup waits for as long as `install` allows
    writeFileSync(spec, specText('simhv', '{ install: 5s, boot: 30s, ready: 30s, poll: 300ms }'));
    host.update((s) => {
      s.config.failures = { setupNeverFinishes: ['labctl-simhv-web2'] };
    });
    try {
      const r = await run(['create']);
      assert.equal(r.code, 1, describeResult(r));
      assert.match(r.stderr, /web2/);
      assert.match(r.stderr, /setup/i, 'names the phase');
      assert.match(r.stderr, /heartbeat/i, 'shows what Hyper-V sees');
      assert.match(r.stderr, /PowerShell Direct/i, 'and what the last check saw');
    } finally {
      host.update((s) => {
        s.config.failures = {};
      });
      writeFileSync(spec, specText('simhv'));
    }
    const down = await run(['teardown', '--yes']);
    assert.equal(down.code, 0, describeResult(down));
    assert.deepEqual(hostShape(host.read()), pristine);
  });
});
