/**
 * The hyperv provider's orchestration against the recording fake host (hyperv-fakes.ts):
 * order of operations, a re-run that changes nothing, resume after a failed step, the
 * timeout diagnosis, teardown touching only what the journal lists, and parameters with
 * quotes, spaces and $ arriving intact. The engine is the real one (runSteps,
 * removeResources); only PowerShell, Hyper-V, SSH and the clock are fakes.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { runSteps, StepFailedError } from '../../src/engine/runner.js';
import { removeResources } from '../../src/engine/teardown.js';
import { LabctlError } from '../../src/util/errors.js';
import { decodeInvocation } from '../../src/transports/powershell.js';
import { SEED_SPEC, testLab, readIsoFiles, type TestLab } from './hyperv-fakes.js';

const labs: TestLab[] = [];
after(() => labs.forEach((l) => l.cleanup()));
function lab(...args: Parameters<typeof testLab>): TestLab {
  const l = testLab(...args);
  labs.push(l);
  return l;
}

async function create(l: TestLab) {
  return runSteps(l.provider.createSteps(l.lab), { store: l.lab.store, concurrency: 1 });
}

function index(l: TestLab, script: string, match: (p: Record<string, unknown>) => boolean = () => true): number {
  return l.host.calls.findIndex((c) => c.script === script && match(c.params));
}

describe('hyperv create on a fake host', () => {
  test('builds network, then each VM in order, and waits through every phase', async () => {
    const l = lab();
    const result = await create(l);
    // only a readiness check can already be true on a first run (the guest came up during the step before)
    assert.deepEqual(result.skipped.filter((id) => !/:(ssh|ready)$/.test(id)), []);
    const h = l.host;
    // network before any VM; the gateway address on the switch; NAT for the subnet
    assert.ok(index(l, 'net-switch.ps1') < index(l, 'net-host-ip.ps1'));
    assert.ok(index(l, 'net-host-ip.ps1') < index(l, 'net-nat.ps1'));
    assert.ok(index(l, 'net-nat.ps1') < index(l, 'new-vm.ps1'));
    assert.deepEqual(h.hostIps.get('labctl-hvtest'), ['198.18.40.1/24']);
    assert.equal(h.nats.get('labctl-hvtest'), '198.18.40.0/24');
    // Ubuntu: vm, disk, seed, installer, firmware, start, (installer powers off), discs out + boot
    const redis = (p: Record<string, unknown>) => String(p.VMName ?? p.Name).endsWith('-redis');
    const order = ['new-vm.ps1', 'new-disk.ps1', 'attach-dvd.ps1', 'set-firmware.ps1', 'start-vm.ps1', 'finish-install.ps1'].map((s) => index(l, s, redis));
    assert.deepEqual([...order].sort((a, b) => a - b), order, `Ubuntu operations out of order: ${order}`);
    const vm = h.vms.get('labctl-hvtest-redis')!;
    assert.equal(vm.generation, 2);
    assert.equal(vm.secureBoot, 'On');
    assert.equal(vm.template, 'MicrosoftUEFICertificateAuthority');
    assert.equal(vm.state, 'Running');
    assert.deepEqual(vm.dvds, [], 'installer and seed discs are out after the install');
    assert.match(vm.notes, /^labctl:hvtest:redis\n/);
    assert.match(vm.com1, /^\\\\\.\\pipe\\labctl-hvtest-redis-com1$/);
    // the seed copy on the host is deleted (it holds the host key), and so is the local one
    assert.equal([...h.files.keys()].some((f) => f.endsWith('seed-cidata.iso')), false);
    assert.equal(existsSync(`${l.lab.store.machineDir('redis')}/seed-cidata.iso`), false);
    // Windows: base image built once, differencing disks over it, unattend before first start
    assert.equal(h.calls.filter((c) => c.script === 'build-windows-base.ps1').length, 1);
    for (const w of ['web1', 'web2']) {
      const isW = (p: Record<string, unknown>) => String(p.VMName ?? p.Name ?? p.VhdPath).includes(`-${w}`);
      assert.ok(index(l, 'inject-unattend.ps1', isW) < index(l, 'start-vm.ps1', isW), `${w}: unattend after start`);
      const disk = h.calls.find((c) => c.script === 'new-disk.ps1' && isW(c.params))!;
      assert.match(String(disk.params.ParentPath), /_cache\\windows-[0-9a-f]{12}-2\.vhdx$/);
      assert.equal(h.vms.get(`labctl-hvtest-${w}`)!.template, 'MicrosoftWindows');
    }
    // the phases were waited for (fake clock moved) and the console tap opened for the Ubuntu VM
    assert.ok(l.clock.slept > 0);
    assert.deepEqual(l.taps.started, ['\\\\.\\pipe\\labctl-hvtest-redis-com1']);
    assert.deepEqual(l.taps.stopped, l.taps.started);
    // deterministic MACs, and everything created is in the journal
    assert.match(vm.mac, /^00155D[0-9A-F]{6}$/);
    const kinds = l.lab.store.resources().map((r) => `${r.kind} ${r.id}`);
    for (const expected of ['hyperv-switch labctl-hvtest', 'hyperv-nat labctl-hvtest', 'hyperv-vm labctl-hvtest-redis', 'hyperv-dir C:\\labctl\\vms\\hvtest']) {
      assert.ok(kinds.includes(expected), `${expected} not journaled: ${kinds.join('; ')}`);
    }
  });

  test('the generated admin password reaches the guest through unattend.xml and PowerShell Direct, never in plain text', async () => {
    const l = lab();
    await create(l);
    const password = l.lab.store.secrets.read('hyperv-admin-web1');
    assert.ok(password.length >= 20);
    const xml = l.host.received.get('C:\\labctl\\vms\\hvtest\\labctl-hvtest-web1\\labctl-hvtest-web1.vhdx')!.toString('utf8');
    assert.ok(!xml.includes(password), 'password in clear in unattend.xml');
    const probe = l.host.calls.filter((c) => c.script === 'probe-psdirect.ps1' && c.params.VMName === 'labctl-hvtest-web1');
    assert.ok(probe.length > 0);
    assert.equal(probe.at(-1)!.params.Password, password);
    // the plan masks it
    const step = l.provider.createSteps(l.lab).find((s) => s.id === 'machine:web1:ready')!;
    assert.equal(step.describe!().params!.Password, '<secret, from the lab secrets>');
    assert.ok(!JSON.stringify(l.lab.store.state).includes(password), 'password in state.json');
  });

  test('a second run checks everything and changes nothing', async () => {
    const l = lab();
    await create(l);
    const before = l.host.calls.length;
    const result = await create(l);
    assert.equal(result.applied.length, 0, `re-run applied ${result.applied.join(', ')}`);
    const changes = l.host.calls.slice(before).filter((c) => !/^(get-|test-|probe-)/.test(c.script));
    assert.deepEqual(changes, []);
  });

  test('resumes after a failed step: what exists is skipped, the failed step and the rest run', async () => {
    const l = lab();
    l.host.failNext.set('attach-dvd.ps1', 'The process cannot access the file because it is being used by another process.');
    await assert.rejects(create(l), (err: unknown) => {
      assert.ok(err instanceof StepFailedError);
      assert.match(err.message, /being used by another process/);
      return true;
    });
    const firstRun = l.host.calls.length;
    const vmsBefore = l.host.calls.filter((c) => c.script === 'new-vm.ps1').length;
    await create(l);
    const second = l.host.calls.slice(firstRun);
    // the redis VM and disk were made in the first run: the second only checks them
    assert.equal(second.filter((c) => c.script === 'new-vm.ps1' && c.params.Name === 'labctl-hvtest-redis').length, 0);
    assert.equal(second.filter((c) => c.script === 'net-switch.ps1').length, 0);
    assert.ok(second.some((c) => c.script === 'attach-dvd.ps1'));
    assert.equal(l.host.vms.get('labctl-hvtest-redis')!.state, 'Running');
    assert.ok(vmsBefore >= 1);
  });

  test('resume after an interrupted install does not start the installer a second time', async () => {
    const l = lab();
    l.host.failNext.set('finish-install.ps1', 'interrupted');
    await assert.rejects(create(l));
    assert.equal(l.host.vms.get('labctl-hvtest-redis')!.state, 'Off');
    const mark = l.host.calls.length;
    await create(l);
    const again = l.host.calls.slice(mark);
    assert.equal(again.filter((c) => c.script === 'start-vm.ps1' && c.params.VMName === 'labctl-hvtest-redis').length, 0);
    assert.ok(again.some((c) => c.script === 'finish-install.ps1'));
  });

  test('an install that never finishes fails with a diagnosis, not just "timed out"', async () => {
    // what the COM1 capture would have written
    const l = lab(SEED_SPEC, { consoleText: 'labctl-confirm: installer state NEEDS_CONFIRMATION\r\n\x1b[1mContinue with autoinstall? (yes|no)\x1b[0m\r\n' });
    l.host.installTicks = Infinity;
    const consoleLog = `${l.lab.store.machineDir('redis')}/console.log`;
    let error: unknown;
    try {
      await create(l);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof StepFailedError, String(error));
    const cause = error.cause as LabctlError;
    assert.match(cause.message, /redis: the Ubuntu installer finished and powered the VM off did not happen within 45 min \(phase "installing"\)/);
    const details = cause.details.join('\n');
    assert.match(details, /VM state: Running/);
    assert.match(details, /heartbeat: NoContact - no heartbeat/);
    assert.match(details, /addresses the guest reports: none/);
    assert.match(details, /serial console, last 2 lines/);
    assert.match(details, /\| Continue with autoinstall\? \(yes\|no\)/);
    assert.match(details, /hint: the installer waits for its "Continue with autoinstall\?" confirmation/);
    assert.ok(existsSync(consoleLog));
    // it waited the phase's own timeout on the fake clock, polling every 30 s
    assert.ok(l.clock.slept >= 45 * 60_000 && l.clock.slept < 46 * 60_000, `slept ${l.clock.slept}`);
  });

  test('SSH phase: host key mismatch until the installed system answers, then done', async () => {
    const l = lab(SEED_SPEC, { sshAfter: 4 });
    await create(l);
    assert.ok(l.sshAttempts >= 4);
  });

  test('a VM of the lab\'s name that labctl did not create stops create with a clear error', async () => {
    const l = lab();
    l.host.switches.set('labctl-hvtest', { notes: 'someone else', type: 'Internal' });
    await assert.rejects(create(l), /a switch named 'labctl-hvtest' exists and labctl did not create it/);
  });
});

describe('hyperv teardown on a fake host', () => {
  test('removes exactly the journaled resources, leaves foreign ones, and reports nothing left', async () => {
    const l = lab();
    await create(l);
    // someone else's things on the same host
    l.host.switches.set('Default Switch', { notes: '', type: 'Internal' });
    l.host.nats.set('other-nat', '172.30.0.0/24');
    l.host.vms.set('my-own-vm', {
      ...l.host.vms.get('labctl-hvtest-web1')!,
      name: 'my-own-vm',
      path: 'D:\\vms\\my-own-vm',
      notes: 'not labctl',
      switch: 'Default Switch',
      disks: ['D:\\vms\\mine.vhdx'],
      dvds: [],
    });
    l.host.files.set('D:\\vms\\mine.vhdx', {});
    const mark = l.host.calls.length;
    const result = await removeResources(l.lab.store, l.provider.teardownPlan(l.lab));
    assert.deepEqual(result.failed, []);
    const removals = l.host.calls.slice(mark);
    // VMs first, network last
    const first = removals.findIndex((c) => c.script === 'remove-switch.ps1');
    assert.ok(removals.slice(0, first).every((c) => c.script !== 'remove-switch.ps1'));
    assert.ok(removals.findIndex((c) => c.script === 'remove-vm.ps1') < removals.findIndex((c) => c.script === 'remove-nat.ps1'));
    // only the lab's names appear in removal calls
    for (const c of removals) {
      const target = String(c.params.Name ?? c.params.Path ?? c.params.NatName ?? c.params.SwitchName);
      assert.match(target, /hvtest/, `${c.script} touched ${target}`);
    }
    assert.ok(l.host.vms.has('my-own-vm'));
    assert.ok(l.host.switches.has('Default Switch'));
    assert.equal(l.host.nats.get('other-nat'), '172.30.0.0/24');
    assert.ok(l.host.files.has('D:\\vms\\mine.vhdx'));
    assert.ok(l.host.files.has('C:\\iso\\ubuntu-24.04-live-server-amd64.iso'), 'the installer ISO is not the lab\'s');
    assert.ok([...l.host.files.keys()].some((f) => f.includes('_cache')), 'the cached Windows base stays');
    assert.deepEqual(await l.provider.leftovers(l.lab), []);
    assert.deepEqual(l.lab.store.resources(), []);
  });

  test('a VM whose Notes lost the lab mark is named as left behind, with the reason', async () => {
    const l = lab();
    await create(l);
    l.host.vms.get('labctl-hvtest-web2')!.notes = 'edited by hand';
    const result = await removeResources(l.lab.store, l.provider.teardownPlan(l.lab));
    const failed = result.failed.map((f) => `${f.resource.kind} ${f.resource.id}: ${f.reason}`);
    assert.ok(failed.some((f) => /hyperv-vm labctl-hvtest-web2: .*notes lack 'labctl:hvtest:web2'/.test(f)), failed.join('\n'));
    // its disk is still attached, so it is named too, and the switch stays because the VM uses it
    assert.ok(failed.some((f) => /labctl-hvtest-web2\.vhdx.*still used by VM labctl-hvtest-web2/.test(f)), failed.join('\n'));
    assert.ok(failed.some((f) => /hyperv-switch labctl-hvtest: .*still used by VM labctl-hvtest-web2/.test(f)), failed.join('\n'));
    // and the lab folder is not emptied under it
    assert.ok(failed.some((f) => /hyperv-dir C:\\labctl\\vms\\hvtest: .*still used by VM labctl-hvtest-web2/.test(f)), failed.join('\n'));
    assert.ok(l.host.vms.has('labctl-hvtest-web2'));
    assert.ok(!l.host.vms.has('labctl-hvtest-web1'));
  });

  test('a journal entry outside the lab folder is refused, not removed', async () => {
    const l = lab();
    await create(l);
    l.lab.store.addResource({ kind: 'hyperv-file', id: 'C:\\Windows\\System32\\drivers\\etc\\hosts' });
    const result = await removeResources(l.lab.store, l.provider.teardownPlan(l.lab));
    assert.deepEqual(
      result.failed.map((f) => f.reason),
      ["refusing to remove C:\\Windows\\System32\\drivers\\etc\\hosts: it is not inside the lab's folder C:\\labctl\\vms\\hvtest"],
    );
    assert.ok(!l.host.calls.some((c) => String(c.params.Path).includes('System32')));
  });
});

describe('parameters reach the host intact', () => {
  const awkward = `C:\\Lab's $HOME dir\\vms`;
  const spec = SEED_SPEC.replace('vmPath: C:\\labctl\\vms', `vmPath: "C:\\\\Lab's $HOME dir\\\\vms"`).replace(
    'ubuntuIso: C:\\iso\\ubuntu-24.04-live-server-amd64.iso',
    `ubuntuIso: "C:\\\\iso\\\\it's \`$(rm -rf)\` \\"ubuntu\\".iso"`,
  );

  test('paths with quotes, spaces, $ and backticks arrive exactly as in the spec', async () => {
    const l = lab(spec);
    assert.equal(l.lab.spec.hyperv?.vmPath, awkward);
    const iso = `C:\\iso\\it's \`$(rm -rf)\` "ubuntu".iso`;
    assert.equal(l.lab.spec.hyperv?.ubuntuIso, iso);
    await create(l);
    const newVm = l.host.calls.find((c) => c.script === 'new-vm.ps1')!;
    assert.equal(newVm.params.Path, `${awkward}\\hvtest`);
    const installer = l.host.calls.find((c) => c.script === 'attach-dvd.ps1' && c.params.Path === iso);
    assert.ok(installer, 'installer ISO path changed on the way');
    // and on the wire, nothing but base64 varies: the line cannot carry code
    for (const line of l.host.lines) {
      assert.match(line, /^& \(\[System\.Text\.Encoding\]::UTF8\.GetString\(\[System\.Convert\]::FromBase64String\('[A-Za-z0-9+/=]+'\)\)\) -Request '[A-Za-z0-9+/=]+'$/);
      assert.ok(!line.includes("it's"));
    }
    const decoded = l.host.lines.map((line) => decodeInvocation(line).request.params);
    assert.ok(decoded.some((p) => p.Path === iso));
  });
});

test('the seed disc the VM boots from carries the autoinstall for this machine', async () => {
  const l = lab();
  await create(l);
  const seed = [...l.host.received.entries()].find(([k]) => k.endsWith('seed-cidata.iso'))![1];
  const files = readIsoFiles(seed);
  assert.deepEqual([...files.keys()].sort(), ['meta-data', 'user-data']);
  const userData = files.get('user-data')!.toString('utf8');
  assert.match(userData, /^#cloud-config\n/);
  assert.match(userData, /macaddress: "00:15:5d:[0-9a-f:]{8}"/);
  assert.match(userData, /addresses: \["198\.18\.40\.10\/24"\]/);
  assert.match(userData, /nameservers:\n\s+addresses: \["192\.0\.2\.53"\]/);
});
