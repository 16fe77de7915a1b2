/**
 * Living with a Hyper-V lab, through labctl as a user runs it (a child process) against the
 * simulated host in real PowerShell 7, with the bridge giving booted VMs real namespaces:
 * stop / status / start (Stop-VM), stop --save / start (Save-VM, resumed without a reboot),
 * verify on a stopped lab, checkpoint save / list / restore / remove (Checkpoint-VM,
 * Restore-VMSnapshot, Get-VMSnapshot, Remove-VMSnapshot: .avhdx disks over the VMs' own, a
 * file written in the Windows guest after the checkpoint gone after the restore, merged back on
 * remove), the console log, teardown back to the host as it was. Needs root. Subnet
 * 198.18.63.0/24 (test/helpers/README.md).
 *
 * Where the simulation ends: the Ubuntu VM is a namespace with sshd (no systemd, so no Redis
 * deployed here: restore runs with --no-verify); the rules the simulator enforces for these
 * cmdlets are in behaviours/host-vm.ps1, each with its Microsoft source.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeResult, type CliResult } from '../helpers/cli.js';
import type { SimHost, SimState } from './host.js';
import { machineLine, simSpecText, startSimLab, type SimLab } from './lab-fixture.js';

const LAB = 'simliv';

const SPEC = simSpecText({
  name: LAB,
  net: '198.18.63',
  machines: [machineLine('redis', 'redis', 'ubuntu', '198.18.63.10'), machineLine('web1', 'web', 'windows', '198.18.63.11')],
});

const vm = (s: SimState, machine: string) => (s.vms as any[]).find((v) => v.name === `labctl-${LAB}-${machine}`);

function hostShape(s: SimState): unknown {
  return {
    vms: (s.vms ?? []).map((v: any) => v.name).sort(),
    switches: (s.switches ?? []).map((x: any) => x.name).sort(),
    nats: (s.nats ?? []).map((n: any) => `${n.name} ${n.prefix}`).sort(),
    // the Windows base image in the cache stays (it is not the lab's); checkpoint disks go
    checkpointDisks: (s.disks ?? []).filter((d: any) => d.checkpoint).map((d: any) => d.path),
  };
}

describe('living with a lab on a simulated Hyper-V host', { timeout: 900_000 }, () => {
  let lab: SimLab;
  let host: SimHost;
  let pristine: unknown;
  const run = (args: string[], timeoutMs = 240_000): Promise<CliResult> => lab.run(args, timeoutMs);
  const ok = async (args: string[]) => {
    const r = await run(args);
    assert.equal(r.code, 0, describeResult(r));
    return r;
  };
  const states = async () => {
    const r = await ok(['status', '--json']);
    return Object.fromEntries((JSON.parse(r.stdout).machines as { name: string; state: string; detail?: string }[]).map((m) => [m.name, m]));
  };

  before(async () => {
    lab = startSimLab({ lab: LAB, prefix: 'labctl-hvliving-', spec: SPEC });
    host = lab.host;
    pristine = hostShape(host.read());
    await ok(['create']);
  });

  after(async () => {
    await lab?.dispose();
  });

  test('stop turns every VM off (Stop-VM), status shows them stopped, verify says so in one line, start brings them back', async () => {
    const stop = await ok(['stop', '--json']);
    assert.deepEqual(JSON.parse(stop.stdout).stopped, ['redis', 'web1']);
    assert.equal(vm(host.read(), 'redis').state, 'Off');
    assert.equal(vm(host.read(), 'web1').state, 'Off');
    const s = await states();
    assert.equal(s.redis.state, 'stopped');
    assert.match(s.web1.detail, /^Off/);

    const verify = await run(['verify', '--json']);
    assert.equal(verify.code, 1, describeResult(verify));
    const body = JSON.parse(verify.stdout);
    assert.equal(body.code, 'LAB_STOPPED');
    assert.match(body.error, /lab simliv is stopped \(redis, web1\): labctl start brings it back/);

    const start = await ok(['start']);
    assert.match(start.stdout, /started redis, web1/);
    assert.equal(vm(host.read(), 'web1').state, 'Running');
    // the Ubuntu VM answers SSH again (the bridge gave the booted VM its namespace back)
    const who = await ok(['ssh', 'redis', '--', 'id', '-un']);
    assert.equal(who.stdout.trim(), 'labctl');
  });

  test('stop --save saves a VM (Save-VM); start resumes it where it was, without a reboot', async () => {
    const boots = vm(host.read(), 'web1').guest.boot.count;
    await ok(['stop', '--save', 'web1']);
    assert.equal(vm(host.read(), 'web1').state, 'Saved');
    assert.equal(vm(host.read(), 'redis').state, 'Running', 'the other VM goes on');
    // start waits for PowerShell Direct to answer as WEB1 again (the machine's create steps)
    await ok(['start', 'web1']);
    const resumed = vm(host.read(), 'web1');
    assert.equal(resumed.state, 'Running');
    assert.equal(resumed.guest.boot.count, boots, 'resumed, not booted: the guest\'s services kept their state');
  });

  test('checkpoint save / list / restore / remove on every VM', async () => {
    const saved = await ok(['checkpoint', 'save', 'clean', '--json']);
    assert.deepEqual(JSON.parse(saved.stdout).checkpoint.machines, ['redis', 'web1']);
    for (const m of ['redis', 'web1']) {
      const v = vm(host.read(), m);
      assert.deepEqual(v.snapshots.map((x: any) => x.name), ['clean'], `${m} has the checkpoint`);
      assert.match(v.hardDisks[0].path, /\.avhdx$/, `${m} runs on a checkpoint disk over its own`);
    }
    const again = await run(['checkpoint', 'save', 'clean']);
    assert.equal(again.code, 2, describeResult(again));
    assert.match(again.stderr, /checkpoint clean exists/);

    const list = JSON.parse((await ok(['checkpoint', 'list', '--json'])).stdout).checkpoints;
    assert.deepEqual(list.map((c: any) => [c.name, c.machines, c.complete]), [['clean', ['redis', 'web1'], true]]);

    // a change made after the checkpoint, on the Windows guest's disk
    assert.equal((await ok(['ssh', 'web1', "Set-Content -Path 'C:\\after-checkpoint.txt' -Value changed; Test-Path 'C:\\after-checkpoint.txt'"])).stdout.trim(), 'True');

    const restored = await ok(['checkpoint', 'restore', 'clean', '--no-verify', '--json']);
    assert.deepEqual(JSON.parse(restored.stdout).restored, ['redis', 'web1']);
    assert.equal(vm(host.read(), 'web1').state, 'Running', 'started again after the restore');
    assert.equal((await ok(['ssh', 'web1', "Test-Path 'C:\\after-checkpoint.txt'"])).stdout.trim(), 'False', 'the file written after the checkpoint is gone');

    await ok(['checkpoint', 'remove', 'clean']);
    for (const m of ['redis', 'web1']) assert.deepEqual(vm(host.read(), m).snapshots, [], `${m}'s checkpoint is gone`);
    // Hyper-V merges the .avhdx back into the disk: the VM runs on its own disk again (the
    // simulated host's clock moves on whenever a script runs)
    const end = Date.now() + 20_000;
    while (Date.now() < end && (host.read().disks as any[]).some((d) => d.checkpoint)) {
      await host.invoke('hyperv/get-vm.ps1', { Name: `labctl-${LAB}-web1` });
    }
    assert.ok(!(host.read().disks as any[]).some((d) => d.checkpoint), 'no checkpoint disk left');
    assert.match(vm(host.read(), 'web1').hardDisks[0].path, /web1.*\.vhdx$/);
  });

  test('logs: an Ubuntu VM\'s console is the copy labctl keeps on this host; a log a machine does not have is refused', async () => {
    // labctl copies the serial console (COM1, a named pipe) while it waits for the VM during
    // create; the simulated host has no named pipes, so there is no copy here: said plainly
    const r = await run(['logs', 'redis', 'console', '-n', '5']);
    assert.equal(r.code, 1, describeResult(r));
    assert.match(r.stderr, /machines\/redis\/console\.log: no such log yet/);
    const none = await run(['logs', 'web1', 'redis']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /web1 has no redis log on hyperv \(its logs: app\)/);
  });

  test('recreate redis: its VM removed and made again from the ISO; web1 untouched', async () => {
    const before = { redis: vm(host.read(), 'redis').id, web1: vm(host.read(), 'web1').id, since: vm(host.read(), 'web1').since };
    const r = await ok(['recreate', 'redis', '--json']);
    const removed: string[] = JSON.parse(r.stdout).removed;
    // its VM, its disk and its seed disc (a new one is written with the new VM's answers)
    assert.deepEqual(removed.map((x) => x.split(' ')[0]).sort(), ['hyperv-disk', 'hyperv-file', 'hyperv-vm']);
    assert.ok(removed.every((x) => /redis/i.test(x)), `only redis's resources: ${removed.join(', ')}`);
    const now = host.read();
    assert.notEqual(vm(now, 'redis').id, before.redis, 'a new VM');
    assert.equal(vm(now, 'redis').state, 'Running');
    assert.deepEqual([vm(now, 'web1').id, vm(now, 'web1').since], [before.web1, before.since], 'web1 was not touched');
    assert.equal((await ok(['ssh', 'redis', '--', 'id', '-un'])).stdout.trim(), 'labctl');
  });

  test('teardown leaves the host as it was, checkpoints and all', async () => {
    await ok(['checkpoint', 'save', 'last']);
    await ok(['teardown', '--yes']);
    assert.deepEqual(hostShape(host.read()), pristine);
  });
});
