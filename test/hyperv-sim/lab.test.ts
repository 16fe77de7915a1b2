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
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { describeResult, startLabctl, waitForChild, type CliResult } from '../helpers/cli.js';
import type { SimNetworkBridge } from './bridge.js';
import { sleep } from './fixtures.js';
import type { SimHost } from './host.js';
import { hostShape, machineLine, simSpecText, startSimLab, SIM_TIMEOUTS, type SimLab } from './lab-fixture.js';

function specText(name: string, timeouts = SIM_TIMEOUTS): string {
  return simSpecText({
    name,
    net: '198.18.61',
    machines: [machineLine('redis', 'redis', 'ubuntu', '198.18.61.10'), machineLine('web1', 'web', 'windows', '198.18.61.11'), machineLine('web2', 'web', 'windows', '198.18.61.12')],
    timeouts,
  });
}

describe('labctl on a simulated Hyper-V host', () => {
  let lab: SimLab;
  let host: SimHost;
  let bridge: SimNetworkBridge;
  let spec: string;
  let home: string;
  let pristine: unknown;
  const run = (args: string[], timeoutMs = 240_000): Promise<CliResult> => lab.run(args, timeoutMs);

  before(() => {
    lab = startSimLab({ lab: 'simhv', prefix: 'labctl-hvlab-', spec: specText('simhv') });
    ({ host, bridge, spec, home, pristine } = lab);
  });

  after(async () => {
    // whatever a failed test left: labctl's own teardown first, then the bridge
    await lab?.dispose();
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
