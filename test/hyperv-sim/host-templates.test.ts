/**
 * Each host template of templates/hyperv alone, run through labctl's own runner and real
 * PowerShell 7 against the simulated Hyper-V host (behaviours/host-*.ps1): it does its job
 * (the simulated host's state shows it), a second run changes nothing, and each documented
 * failure ends in an error that names the VM, disk, switch or NAT. The Windows base disk,
 * unattend.xml and Windows' first boot are in host-windows.test.ts.
 *
 * One simulated host (and so one set of PowerShell sessions) serves the whole file; each
 * test starts from an empty host (resetHost).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, beforeEach, describe, test } from 'node:test';
import { parseSpec } from '../../src/spec/load.js';
import { hypervConfig } from '../../src/providers/hyperv/config.js';
import { preflightProblems, type HostFacts } from '../../src/providers/hyperv/preflight.js';
import { SimHost } from './host.js';
import { FAST, addCheckpoint, localDir, machine, resetHost, vmOf, waitFor, writeSeed } from './fixtures.js';

const host = new SimHost({ timing: FAST });
const locals: string[] = [];
after(async () => {
  await host.dispose();
  for (const d of locals) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => resetHost(host));

const run = <T = any>(script: string, params: Record<string, unknown>) => host.invoke<T>(`hyperv/${script}.ps1`, params, 90_000);
const state = () => host.read();

const LAB = 'sim';
const SWITCH = 'labctl-sim';
const TAG = 'labctl:sim';
const ROOT = 'C:\\labctl\\vms\\sim';
const UBUNTU_ISO = 'C:\\iso\\ubuntu-24.04.3-live-server-amd64.iso';

async function network(): Promise<void> {
  await run('net-switch', { SwitchName: SWITCH, OwnerTag: TAG, Notes: `${TAG}\nCreated by labctl` });
  await run('net-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1', PrefixLength: 24 });
}

function newVmParams(name: string, mac: string, extra: Record<string, unknown> = {}) {
  return {
    Name: `labctl-${LAB}-${name}`,
    Path: ROOT,
    MemoryBytes: 2 * 2 ** 30,
    ProcessorCount: 2,
    SwitchName: SWITCH,
    MacAddress: mac,
    OwnerTag: `${TAG}:${name}`,
    Notes: `${TAG}:${name}\nCreated by labctl`,
    ...extra,
  };
}

/** An Ubuntu VM as labctl prepares it: VM, disk, seed, installer, firmware. */
async function ubuntuVm(name = 'redis', mac = '00155DAA0001', opts: { template?: string; seed?: boolean } = {}) {
  await network();
  await run('new-dir', { Path: ROOT });
  host.putUbuntuIso(UBUNTU_ISO);
  const vm = `labctl-${LAB}-${name}`;
  await run('new-vm', newVmParams(name, mac, { ComPipe: `\\\\.\\pipe\\labctl-${LAB}-${name}-com1` }));
  await run('new-disk', { VMName: vm, Path: `${ROOT}\\${vm}.vhdx`, SizeBytes: 20 * 2 ** 30 });
  if (opts.seed !== false) {
    const dir = localDir();
    locals.push(dir);
    await run('attach-dvd', { VMName: vm, Path: `${ROOT}\\${name}-seed-cidata.iso`, CopyFrom: writeSeed(dir, machine(name, 'ubuntu', '198.18.7.10'), mac) });
  }
  await run('attach-dvd', { VMName: vm, Path: UBUNTU_ISO });
  await run('set-firmware', { VMName: vm, SecureBootTemplate: opts.template ?? 'MicrosoftUEFICertificateAuthority', FirstBootPath: UBUNTU_ISO });
  return vm;
}

const getVm = (name: string, mac = '') => () => run('get-vm', { Name: name, MacAddress: mac });

describe('preflight.ps1', () => {
  test('reports the host as Windows would: OS, elevation, Hyper-V, memory, disk, files, switches, VMs, MACs, NATs, addresses, routes', async () => {
    host.putUbuntuIso(UBUNTU_ISO);
    host.update((s) => {
      s.host.routes.push({ prefix: '10.8.0.0/16', ifIndex: 4 });
      s.nats.push({ name: 'other', prefix: '172.30.0.0/24' });
    });
    await network();
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    const f = await run<HostFacts & Record<string, any>>('preflight', {
      VmPath: 'C:\\labctl\\vms',
      LabRoot: ROOT,
      Files: [UBUNTU_ISO, 'C:\\iso\\missing.iso'],
      MacAddresses: ['00155DAA0001', '00155DBB0002'],
    });
    assert.equal(f.windows, 'Microsoft Windows Server 2022 Datacenter');
    assert.equal(f.build, '20348');
    assert.equal(f.elevated, true);
    assert.equal(f.hyperVModule, true);
    assert.equal(f.vmms, 'Running');
    // 64 GB free less the VM that is off: nothing running, nothing taken
    assert.equal(f.freeMemoryBytes, 64 * 2 ** 30);
    assert.equal(f.vmPathRoot, 'C:\\');
    assert.equal(f.vmPathFreeBytes, 600 * 2 ** 30);
    assert.equal(f.labRootExists, true);
    assert.deepEqual(f.files, [
      { path: UBUNTU_ISO, exists: true },
      { path: 'C:\\iso\\missing.iso', exists: false },
    ]);
    assert.deepEqual(f.switches, [{ name: SWITCH, type: 'Internal', notes: `${TAG}\nCreated by labctl` }]);
    assert.deepEqual(f.vms, [{ name: 'labctl-sim-redis', notes: `${TAG}:redis\nCreated by labctl`, state: 'Off' }]);
    assert.deepEqual(f.macsInUse, [{ mac: '00155DAA0001', vm: 'labctl-sim-redis' }]);
    assert.deepEqual(f.nats, [{ name: 'other', prefix: '172.30.0.0/24' }]);
    const addr = f.addresses.map((a) => `${a.ip}/${a.prefix} ${a.alias}`);
    assert.ok(addr.includes('192.168.50.20/24 Ethernet'), addr.join('; '));
    assert.ok(addr.includes(`198.18.7.1/24 vEthernet (${SWITCH})`), addr.join('; '));
    const routes = f.routes.map((r) => `${r.prefix} ${r.alias}`);
    assert.ok(routes.includes('10.8.0.0/16 Ethernet'), routes.join('; '));
    assert.ok(!routes.some((r) => r.startsWith('0.0.0.0/0')), 'the default route is left out');
  });

  test('a terminal that is not elevated', async () => {
    host.update((s) => {
      s.host.elevated = false;
    });
    const f = await run<HostFacts>('preflight', { VmPath: 'C:\\labctl\\vms', LabRoot: ROOT });
    assert.equal(f.elevated, false);
  });

  test('an execution policy set by Group Policy is reported, and preflight says what to do', async () => {
    host.update((s) => {
      s.host.executionPolicy.MachinePolicy = 'AllSigned';
    });
    const f = await run<HostFacts>('preflight', { VmPath: 'C:\\labctl\\vms', LabRoot: ROOT });
    assert.deepEqual(f.executionPolicy, { machinePolicy: 'AllSigned', userPolicy: 'Undefined', process: 'Bypass', effective: 'AllSigned' });
    const spec = parseSpec(
      [
        'name: sim',
        'network: { subnet: 198.18.7.0/24 }',
        'redis: { version: 7.0.15 }',
        'machines:',
        '  redis: { role: redis, os: ubuntu, ip: 198.18.7.10, cpus: 2, memory: 2GB, disk: 20GB }',
        '  web1: { role: web, os: windows, ip: 198.18.7.11, cpus: 2, memory: 4GB, disk: 40GB }',
        'hyperv:',
        '  ubuntuIso: C:\\iso\\ubuntu.iso',
        '  windowsImage: C:\\img\\base.vhdx',
        '',
      ].join('\n'),
      'lab.yaml',
    );
    const problems = preflightProblems(f, spec, hypervConfig(spec), []);
    const gp = problems.find((p) => /Group Policy/.test(p));
    assert.ok(gp, problems.join('\n'));
    assert.match(gp!, /AllSigned \(MachinePolicy scope\)/);
    assert.match(gp!, /-ExecutionPolicy Bypass/);
    assert.match(gp!, /Get-ExecutionPolicy -List/);
  });
});

describe('files: new-dir.ps1, get-path.ps1', () => {
  test('the lab folder is made once; get-path tells a file, a folder and nothing apart', async () => {
    assert.deepEqual(await run('new-dir', { Path: ROOT }), { path: ROOT, created: true });
    assert.deepEqual(await run('new-dir', { Path: ROOT }), { path: ROOT, created: false });
    const folder = await run('get-path', { Path: ROOT });
    assert.equal(folder.exists, true);
    assert.equal(folder.folder, true);
    host.putFile(`${ROOT}\\a file with 'quotes' and $dollar.txt`, 'twelve bytes');
    const file = await run('get-path', { Path: `${ROOT}\\a file with 'quotes' and $dollar.txt` });
    assert.deepEqual([file.exists, file.folder, file.length], [true, false, 12]);
    assert.match(file.lastWriteUtc, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(await run('get-path', { Path: `${ROOT}\\none` }), { exists: false });
  });
});

describe('the lab network: net-switch.ps1, net-host-ip.ps1, net-nat.ps1, find-route.ps1', () => {
  test('an Internal switch marked as the lab\'s; a second run finds it', async () => {
    const first = await run('net-switch', { SwitchName: SWITCH, OwnerTag: TAG, Notes: `${TAG}\nCreated by labctl` });
    assert.equal(first.created, true);
    const sw = state().switches;
    assert.equal(sw.length, 1);
    assert.equal(sw[0].type, 'Internal');
    assert.equal(sw[0].notes, `${TAG}\nCreated by labctl`);
    assert.equal(sw[0].id, first.id);
    const again = await run('net-switch', { SwitchName: SWITCH, OwnerTag: TAG, Notes: `${TAG}\nCreated by labctl` });
    assert.deepEqual(again, { created: false, id: first.id });
    assert.equal(state().switches.length, 1);
  });

  test('a switch of the lab\'s name that labctl did not make is refused, named, and left alone', async () => {
    host.update((s) => {
      s.switches.push({ id: 'f00dbabe-0000-4000-8000-000000000001', name: SWITCH, type: 'External', notes: 'the team switch' });
    });
    await assert.rejects(run('net-switch', { SwitchName: SWITCH, OwnerTag: TAG, Notes: `${TAG}\nx` }), /a switch named 'labctl-sim' exists and labctl did not create it/);
    assert.deepEqual(state().switches.map((s: any) => s.notes), ['the team switch']);
  });

  test('the gateway address on the switch\'s own adapter (found by MAC), DHCP off; a second run changes nothing', async () => {
    await run('net-switch', { SwitchName: SWITCH, OwnerTag: TAG, Notes: TAG });
    const r = await run('net-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1', PrefixLength: 24 });
    assert.equal(r.changed, true);
    const vnic = state().host.adapters.find((a: any) => a.switchName === SWITCH);
    assert.equal(r.ifIndex, vnic.ifIndex);
    assert.equal(vnic.dhcp, false);
    assert.deepEqual(vnic.ips, [{ ip: '198.18.7.1', prefix: 24 }], 'the 169.254 address went with DHCP');
    assert.deepEqual(await run('net-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1', PrefixLength: 24 }), { changed: false, ifIndex: vnic.ifIndex });
    // an interrupted run left the address with another prefix: replaced
    host.update((s) => {
      s.host.adapters.find((a: any) => a.switchName === SWITCH).ips = [{ ip: '198.18.7.1', prefix: 16 }];
    });
    assert.equal((await run('net-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1', PrefixLength: 24 })).changed, true);
    assert.deepEqual(state().host.adapters.find((a: any) => a.switchName === SWITCH).ips, [{ ip: '198.18.7.1', prefix: 24 }]);
    const net = await run('get-network', { SwitchName: SWITCH, NatName: SWITCH, GatewayAddress: '198.18.7.1', PrefixLength: 24 });
    assert.deepEqual(net.hostAddress, { ifIndex: vnic.ifIndex, alias: `vEthernet (${SWITCH})`, addresses: ['198.18.7.1/24'], present: true });
  });

  test('net-host-ip.ps1 on a Private switch (no host adapter) says so', async () => {
    host.update((s) => {
      s.switches.push({ id: 'f00dbabe-0000-4000-8000-000000000002', name: SWITCH, type: 'Private', notes: TAG });
    });
    await assert.rejects(run('net-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1', PrefixLength: 24 }), /switch 'labctl-sim' has no host adapter: it must be an Internal switch/);
  });

  test('the lab NAT; a second run changes nothing; a NAT of the lab\'s name with another prefix is refused', async () => {
    assert.deepEqual(await run('net-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' }), { created: true });
    assert.deepEqual(state().nats, [{ name: SWITCH, prefix: '198.18.7.0/24' }]);
    assert.deepEqual(await run('net-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' }), { created: false });
    await assert.rejects(run('net-nat', { NatName: SWITCH, Prefix: '198.18.8.0/24' }), /NAT 'labctl-sim' exists for 198\.18\.7\.0\/24, not 198\.18\.8\.0\/24/);
  });

  test('a second NAT on a host that allows one: the error names the NAT there and says why, without a version rule', async () => {
    host.update((s) => {
      s.config.natLimit = 1;
      s.nats.push({ name: 'DockerNAT', prefix: '10.0.75.0/24' });
    });
    const err = await run('net-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' }).catch((e) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /Other NATs on this host: DockerNAT \(10\.0\.75\.0\/24\)/);
    assert.match(err.message, /Windows allows one NAT per host on some versions/);
    assert.doesNotMatch(err.message, /Server 2022|Windows 11/, 'no version rule nobody sourced');
    assert.deepEqual(state().nats.map((n: any) => n.name), ['DockerNAT']);
  });

  test('a NAT whose prefix overlaps another NAT\'s is refused, naming that NAT', async () => {
    host.update((s) => {
      s.nats.push({ name: 'wide', prefix: '198.18.0.0/16' });
    });
    await assert.rejects(run('net-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' }), /Other NATs on this host: wide \(198\.18\.0\.0\/16\).*overlapping prefixes are refused/);
  });

  test('find-route.ps1: the lab address goes out through the lab switch, unless a VPN route is more specific', async () => {
    await network();
    const r = await run('find-route', { IPAddress: '198.18.7.10', SwitchName: SWITCH });
    assert.equal(r.viaLab, true);
    assert.equal(r.alias, `vEthernet (${SWITCH})`);
    host.update((s) => {
      s.host.routes.push({ prefix: '198.18.7.0/25', ifIndex: 4 });
    });
    const vpn = await run('find-route', { IPAddress: '198.18.7.10', SwitchName: SWITCH });
    assert.equal(vpn.viaLab, false);
    assert.equal(vpn.alias, 'Ethernet');
  });

  test('get-host-dns.ps1: the DNS servers of the host\'s connected adapters, not the lab switch\'s', async () => {
    await network();
    host.update((s) => {
      s.host.adapters.find((a: any) => a.switchName === SWITCH).dns = ['198.18.7.1'];
    });
    assert.deepEqual(await run('get-host-dns', { ExcludeSwitchName: SWITCH }), { servers: ['192.168.50.1'] });
  });
});

describe('VMs: new-vm.ps1, new-disk.ps1, attach-dvd.ps1, set-firmware.ps1', () => {
  test('new-vm.ps1: Generation 2, Notes, static MAC on the lab switch, static memory, checkpoints off, COM1; a second run changes nothing', async () => {
    await network();
    const name = 'labctl-sim-redis';
    const r = await run('new-vm', newVmParams('redis', '00155DAA0001', { ComPipe: '\\\\.\\pipe\\labctl-sim-redis-com1' }));
    assert.equal(r.created, true);
    assert.equal(r.path, `${ROOT}\\${name}`);
    const vm = vmOf(state(), name);
    assert.equal(vm.generation, 2);
    assert.equal(vm.notes, `${TAG}:redis\nCreated by labctl`);
    assert.equal(vm.processorCount, 2);
    assert.equal(vm.memoryStartupBytes, 2 * 2 ** 30);
    assert.equal(vm.dynamicMemory, false, 'New-VM gives Dynamic Memory: new-vm.ps1 turns it off');
    assert.equal(vm.automaticCheckpointsEnabled, false);
    assert.equal(vm.automaticStartAction, 'Nothing');
    assert.equal(vm.automaticStopAction, 'ShutDown');
    assert.deepEqual(vm.adapters.map((a: any) => [a.mac, a.staticMac, a.switchName]), [['00155DAA0001', true, SWITCH]]);
    assert.equal(vm.comPorts['1'], '\\\\.\\pipe\\labctl-sim-redis-com1');
    assert.ok(existsSync(host.local(`${ROOT}\\${name}\\Virtual Machines\\${vm.id.toUpperCase()}.vmcx`)), 'the configuration file');
    const before = vmOf(state(), name);
    const again = await run('new-vm', newVmParams('redis', '00155DAA0001', { ComPipe: '\\\\.\\pipe\\labctl-sim-redis-com1' }));
    assert.deepEqual(again, { created: false, id: vm.id, path: r.path });
    assert.deepEqual(vmOf(state(), name), before);
  });

  test('new-vm.ps1 leaves a VM of the lab\'s name that labctl did not make, unless the journal says labctl made it (-Adopt)', async () => {
    await network();
    host.update((s) => {
      s.vms.push({ ...structuredClone(emptyVm), name: 'labctl-sim-redis' });
    });
    await assert.rejects(run('new-vm', newVmParams('redis', '00155DAA0001')), /a VM named 'labctl-sim-redis' exists and labctl did not create it/);
    assert.equal(vmOf(state(), 'labctl-sim-redis').notes, '');
    const r = await run('new-vm', newVmParams('redis', '00155DAA0001', { Adopt: true }));
    assert.equal(r.created, false);
    const vm = vmOf(state(), 'labctl-sim-redis');
    assert.match(vm.notes, /^labctl:sim:redis\n/);
    assert.deepEqual(vm.adapters.map((a: any) => [a.mac, a.switchName]), [['00155DAA0001', SWITCH]], 'the adapter is connected and given the MAC');
  });

  test('new-vm.ps1 refuses when two VMs have the name', async () => {
    await network();
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    host.update((s) => {
      s.vms.push({ ...structuredClone(emptyVm), id: 'c0ffee00-0000-4000-8000-000000000009', name: 'labctl-sim-redis' });
    });
    await assert.rejects(run('new-vm', newVmParams('redis', '00155DAA0001')), /2 VMs are named 'labctl-sim-redis'/);
  });

  test('new-disk.ps1: a dynamic VHDX attached on SCSI; a differencing disk over a base; second runs change nothing', async () => {
    await network();
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    const vm = 'labctl-sim-redis';
    const disk = `${ROOT}\\${vm}.vhdx`;
    assert.deepEqual(await run('new-disk', { VMName: vm, Path: disk, SizeBytes: 20 * 2 ** 30 }), { created: true, attached: true });
    const d = state().disks.find((x: any) => x.path === disk);
    assert.equal(d.type, 'Dynamic');
    assert.equal(d.sizeBytes, 20 * 2 ** 30);
    assert.deepEqual(vmOf(state(), vm).hardDisks, [{ controller: 0, location: 0, path: disk }]);
    assert.deepEqual(await run('new-disk', { VMName: vm, Path: disk, SizeBytes: 20 * 2 ** 30 }), { created: false, attached: false });
    assert.equal(state().disks.length, 1);
    // differencing
    await run('new-vm', newVmParams('web1', '00155DAA0011'));
    host.putFile('C:\\base\\ws2022.vhdx', 'placeholder');
    await assert.rejects(run('new-disk', { VMName: 'labctl-sim-web1', Path: `${ROOT}\\web1.vhdx`, ParentPath: 'C:\\base\\ws2022.vhdx' }), /parent 'C:\\base\\ws2022\.vhdx' does not exist or is not a virtual hard disk/);
    await run('new-disk', { VMName: 'labctl-sim-web1', Path: 'C:\\base\\real.vhdx', SizeBytes: 40 * 2 ** 30 });
    await run('new-vm', newVmParams('web2', '00155DAA0012'));
    assert.deepEqual(await run('new-disk', { VMName: 'labctl-sim-web2', Path: `${ROOT}\\web2.vhdx`, ParentPath: 'C:\\base\\real.vhdx' }), { created: true, attached: true });
    const child = state().disks.find((x: any) => x.path === `${ROOT}\\web2.vhdx`);
    const parent = state().disks.find((x: any) => x.path === 'C:\\base\\real.vhdx');
    assert.equal(child.type, 'Differencing');
    assert.equal(child.parentId, parent.id);
    assert.equal(child.sizeBytes, 40 * 2 ** 30, 'a differencing disk has its parent\'s size');
  });

  test('new-disk.ps1 without a size or a parent, and for a VM that does not exist', async () => {
    await network();
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    await assert.rejects(run('new-disk', { VMName: 'labctl-sim-redis', Path: `${ROOT}\\x.vhdx` }), /give SizeBytes for a new disk or ParentPath/);
    await assert.rejects(run('new-disk', { VMName: 'labctl-sim-nope', Path: `${ROOT}\\x.vhdx`, SizeBytes: 2 ** 30 }), /no VM named 'labctl-sim-nope'/);
  });

  test('attach-dvd.ps1: a disc in a new DVD drive, a copy of a local file with CopyFrom; a second run adds no drive', async () => {
    await network();
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    const vm = 'labctl-sim-redis';
    host.putUbuntuIso(UBUNTU_ISO);
    assert.deepEqual(await run('attach-dvd', { VMName: vm, Path: UBUNTU_ISO }), { added: true, controller: 0, location: 0 });
    assert.deepEqual(await run('attach-dvd', { VMName: vm, Path: UBUNTU_ISO }), { added: false, controller: 0, location: 0 });
    const dir = localDir();
    locals.push(dir);
    const seed = writeSeed(dir, machine('redis', 'ubuntu', '198.18.7.10'), '00155DAA0001');
    await run('new-dir', { Path: ROOT });
    const r = await run('attach-dvd', { VMName: vm, Path: `${ROOT}\\seed-cidata.iso`, CopyFrom: seed });
    assert.deepEqual(r, { added: true, controller: 0, location: 1 });
    assert.deepEqual(readFileSync(host.local(`${ROOT}\\seed-cidata.iso`)), readFileSync(seed), 'the seed arrives byte for byte');
    assert.deepEqual(vmOf(state(), vm).dvds.map((d: any) => d.path), [UBUNTU_ISO, `${ROOT}\\seed-cidata.iso`]);
    await assert.rejects(run('attach-dvd', { VMName: vm, Path: 'C:\\iso\\nothing.iso' }), /no such file: C:\\iso\\nothing\.iso/);
  });

  test('set-firmware.ps1: Secure Boot with the Microsoft UEFI CA template for Ubuntu, the installer first; refused while the VM runs', async () => {
    const vm = await ubuntuVm();
    const s = vmOf(state(), vm);
    assert.equal(s.firmware.secureBoot, 'On');
    assert.equal(s.firmware.template, 'MicrosoftUEFICertificateAuthority');
    assert.deepEqual(s.firmware.bootOrder[0], { kind: 'Drive', driveKind: 'DvdDrive', controller: 0, location: 2 });
    const facts = await getVm(vm)();
    assert.deepEqual(facts.firmware, { secureBoot: 'On', template: 'MicrosoftUEFICertificateAuthority', firstBoot: { type: 'Drive', path: UBUNTU_ISO, device: 'DvdDrive', description: 'EFI SCSI Device' } });
    const before = vmOf(state(), vm).firmware;
    await run('set-firmware', { VMName: vm, SecureBootTemplate: 'MicrosoftUEFICertificateAuthority', FirstBootPath: UBUNTU_ISO });
    assert.deepEqual(vmOf(state(), vm).firmware, before, 'a second run changes nothing');
    await run('start-vm', { VMName: vm });
    await assert.rejects(
      run('set-firmware', { VMName: vm, SecureBootTemplate: 'MicrosoftWindows', FirstBootPath: UBUNTU_ISO }),
      /'labctl-sim-redis' failed to modify settings: firmware settings .* cannot be changed while the virtual machine is Running/,
    );
    assert.equal(vmOf(state(), vm).firmware.template, 'MicrosoftUEFICertificateAuthority');
  });

  test('set-firmware.ps1 on a host that refuses the template\'s name falls back to its id', async () => {
    await network();
    host.update((s) => {
      s.config.failures.rejectTemplateName = [true];
    });
    host.putUbuntuIso(UBUNTU_ISO);
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    await run('attach-dvd', { VMName: 'labctl-sim-redis', Path: UBUNTU_ISO });
    const r = await run('set-firmware', { VMName: 'labctl-sim-redis', SecureBootTemplate: 'MicrosoftUEFICertificateAuthority', FirstBootPath: UBUNTU_ISO });
    assert.deepEqual(r, { secureBoot: 'On', template: 'MicrosoftUEFICertificateAuthority' });
  });
});

describe('an Ubuntu VM: start-vm.ps1, the autoinstall, finish-install.ps1, get-vm.ps1', () => {
  test('the installer runs from the seed, writes the disk, registers its boot entry and powers off; finish-install boots the installed system', async () => {
    const mac = '00155DAA0001';
    const vm = await ubuntuVm('redis', mac);
    // held in the install for the first checks (under load a fraction of a second is soon gone)
    const hold = (key: 'installSeconds' | 'bootSeconds', seconds: number) =>
      host.update((s) => {
        s.config.timing[key] = seconds;
      });
    hold('installSeconds', 600);
    assert.deepEqual(await run('start-vm', { VMName: vm }), { before: 'Off', state: 'Running' });
    assert.deepEqual(await run('start-vm', { VMName: vm }), { before: 'Running', state: 'Running' }, 'a running VM is left as it is');
    await run('get-vm', { Name: vm });
    const during = vmOf(state(), vm).guest;
    assert.ok(['installer', 'installing'].includes(during.phase), during.phase);
    await assert.rejects(
      run('finish-install', { VMName: vm, InstallerPath: UBUNTU_ISO, SeedPath: `${ROOT}\\redis-seed-cidata.iso`, DiskPath: `${ROOT}\\${vm}.vhdx` }),
      /VM 'labctl-sim-redis' is Running, not Off: the installer has not finished/,
    );
    hold('installSeconds', FAST.installSeconds);
    const off = await waitFor('the installer powers the VM off', getVm(vm, mac), (v) => v.state === 'Off');
    assert.equal(off.heartbeat, '');
    const s = vmOf(state(), vm);
    assert.equal(s.guest.installed, true);
    assert.deepEqual(s.firmware.bootOrder[0], { kind: 'File', description: 'ubuntu', path: '\\EFI\\ubuntu\\shimx64.efi', diskPath: `${ROOT}\\${vm}.vhdx` });
    assert.equal(off.firmware.firstBoot.type, 'File');
    assert.equal(off.firmware.firstBoot.description, 'ubuntu');
    hold('bootSeconds', 600);
    const done = await run('finish-install', { VMName: vm, InstallerPath: UBUNTU_ISO, SeedPath: `${ROOT}\\redis-seed-cidata.iso`, DiskPath: `${ROOT}\\${vm}.vhdx` });
    assert.deepEqual(done, { removedDiscs: 2, state: 'Running' });
    assert.equal(existsSync(host.local(`${ROOT}\\redis-seed-cidata.iso`)), false, 'the seed (it holds the host key) is deleted');
    const booting = await getVm(vm, mac)();
    assert.equal(booting.heartbeat, 'NoContact');
    hold('bootSeconds', FAST.bootSeconds);
    const up = await waitFor('Ubuntu reports its heartbeat and address', getVm(vm, mac), (v) => /^Ok/.test(v.heartbeat) && v.adapters[0].addresses.length > 0);
    assert.equal(up.heartbeat, 'OkApplicationsUnknown', 'Linux integration services report no application health');
    assert.deepEqual(up.adapters, [{ mac, switch: SWITCH, addresses: ['198.18.7.10', 'fe80::215:5dff:feaa:1'] }]);
    assert.deepEqual(up.neighbours, [{ ip: '198.18.7.10', state: 'Reachable' }]);
    assert.deepEqual(up.dvds, []);
    assert.deepEqual(up.disks, [`${ROOT}\\${vm}.vhdx`]);
    assert.equal(up.com1, '\\\\.\\pipe\\labctl-sim-redis-com1');
    assert.equal(up.checkpoints, 0);
    assert.equal(up.generation, 2);
    assert.equal(up.memoryBytes, 2 * 2 ** 30);
    assert.match(vmOf(state(), vm).guest.userData, /^#cloud-config/);
    // a second finish-install changes nothing
    assert.deepEqual(await run('finish-install', { VMName: vm, InstallerPath: UBUNTU_ISO, SeedPath: `${ROOT}\\redis-seed-cidata.iso`, DiskPath: `${ROOT}\\${vm}.vhdx` }), { removedDiscs: 0, state: 'Running' });
  });

  test('under the MicrosoftWindows Secure Boot template the VM runs but nothing boots: the Secure Boot violation is what the console shows', async () => {
    const vm = await ubuntuVm('redis', '00155DAA0001', { template: 'MicrosoftWindows' });
    await run('start-vm', { VMName: vm });
    const g = vmOf(state(), vm).guest;
    assert.equal(g.phase, 'none');
    assert.match(g.problem, /the signed image's hash is not allowed \(DB\): Secure Boot violation \(template MicrosoftWindows/);
    assert.match(g.problem, /No operating system was loaded/);
    const facts = await getVm(vm)();
    assert.equal(facts.state, 'Running');
    assert.equal(facts.heartbeat, 'NoContact');
  });

  test('without a seed disc the installer waits at the console for ever', async () => {
    const vm = await ubuntuVm('redis', '00155DAA0001', { seed: false });
    await run('start-vm', { VMName: vm });
    await new Promise((r) => setTimeout(r, 1200));
    const facts = await getVm(vm)();
    assert.equal(facts.state, 'Running');
    const g = vmOf(state(), vm).guest;
    assert.equal(g.phase, 'installer');
    assert.match(g.problem, /no NoCloud seed/);
  });

  test('get-vm.ps1 of a VM that does not exist', async () => {
    assert.deepEqual(await run('get-vm', { Name: 'labctl-sim-none' }), { exists: false, count: 0 });
  });

  test('start-vm.ps1 resumes a paused VM', async () => {
    const vm = await ubuntuVm();
    await run('start-vm', { VMName: vm });
    host.update((s) => {
      vmOf(s, vm).state = 'Paused';
    });
    assert.deepEqual(await run('start-vm', { VMName: vm }), { before: 'Paused', state: 'Running' });
  });
});

describe('teardown: remove-vm.ps1, remove-path.ps1, remove-nat.ps1, remove-host-ip.ps1, remove-switch.ps1, leftovers.ps1', () => {
  test('a running VM with a checkpoint: turned off, checkpoint merged, VM, disks, discs and folder removed; a second run does nothing', async () => {
    const vm = await ubuntuVm();
    await run('start-vm', { VMName: vm });
    addCheckpoint(host, vm);
    const avhdx = vmOf(state(), vm).hardDisks[0].path;
    assert.match(avhdx, /_[0-9A-F-]+\.avhdx$/);
    const r = await run('remove-vm', { Name: vm, OwnerTag: `${TAG}:redis`, LabRoot: ROOT });
    assert.equal(r.removed, true);
    assert.deepEqual(r.failed, []);
    assert.deepEqual(
      [...r.files].sort(),
      [`${ROOT}\\${vm}.vhdx`, `${ROOT}\\redis-seed-cidata.iso`, `${ROOT}\\${vm}`].sort(),
      'the disk (merged), the seed, the VM folder; never the installer ISO outside the lab folder',
    );
    assert.equal(state().vms.length, 0);
    assert.equal(existsSync(host.local(avhdx)), false, 'the checkpoint disk was merged away');
    assert.equal(existsSync(host.local(`${ROOT}\\${vm}`)), false);
    assert.equal(existsSync(host.local(UBUNTU_ISO)), true);
    assert.deepEqual(await run('remove-vm', { Name: vm, OwnerTag: `${TAG}:redis`, LabRoot: ROOT }), { removed: false, files: [], failed: [] });
  });

  test('remove-vm.ps1 leaves a VM whose Notes lack the lab\'s mark', async () => {
    await network();
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    host.update((s) => {
      vmOf(s, 'labctl-sim-redis').notes = 'someone else\'s now';
    });
    await assert.rejects(run('remove-vm', { Name: 'labctl-sim-redis', OwnerTag: `${TAG}:redis`, LabRoot: ROOT }), /VM 'labctl-sim-redis' exists but its notes lack 'labctl:sim:redis'/);
    assert.equal(state().vms.length, 1);
  });

  test('remove-path.ps1: only inside the lab folder, never a disk a VM uses, never a file that is open', async () => {
    const vm = await ubuntuVm();
    await assert.rejects(run('remove-path', { Path: 'C:\\iso', LabRoot: ROOT, Recurse: true }), /refusing to remove C:\\iso: it is not inside the lab's folder/);
    await assert.rejects(run('remove-path', { Path: `${ROOT}\\${vm}.vhdx`, LabRoot: ROOT }), /is still used by VM labctl-sim-redis/);
    await assert.rejects(run('remove-path', { Path: ROOT, LabRoot: ROOT, Recurse: true }), /is still used by VM labctl-sim-redis/);
    // a disk no VM uses but that is mounted on the host is open: Windows refuses to delete it
    host.putFile(`${ROOT}\\spare.txt`, 'x');
    await run('new-disk', { VMName: vm, Path: `${ROOT}\\spare.vhdx`, SizeBytes: 2 ** 30 });
    host.update((s) => {
      const v = vmOf(s, vm);
      v.hardDisks = v.hardDisks.filter((d: any) => !d.path.endsWith('spare.vhdx'));
      s.disks.find((d: any) => d.path.endsWith('spare.vhdx')).mounted = { number: 1, offline: false, readOnly: false, reason: '' };
    });
    await assert.rejects(run('remove-path', { Path: `${ROOT}\\spare.vhdx`, LabRoot: ROOT }), /Cannot remove item C:\\labctl\\vms\\sim\\spare\.vhdx: The process cannot access the file .* because it is being used by another process/);
    assert.deepEqual(await run('remove-path', { Path: `${ROOT}\\spare.txt`, LabRoot: ROOT }), { removed: true });
    assert.deepEqual(await run('remove-path', { Path: `${ROOT}\\spare.txt`, LabRoot: ROOT }), { removed: false });
  });

  test('the network goes in reverse: NAT (only with the lab\'s prefix), host address, switch (only the lab\'s, only when no VM uses it)', async () => {
    await network();
    await run('net-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' });
    await assert.rejects(run('remove-nat', { NatName: SWITCH, Prefix: '198.18.9.0/24' }), /NAT 'labctl-sim' now covers 198\.18\.7\.0\/24, not the lab's 198\.18\.9\.0\/24: left alone/);
    assert.deepEqual(await run('remove-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' }), { removed: true });
    assert.deepEqual(await run('remove-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' }), { removed: false });
    assert.deepEqual(await run('remove-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1' }), { removed: true });
    assert.deepEqual(await run('remove-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1' }), { removed: false });
    await run('new-vm', newVmParams('redis', '00155DAA0001'));
    await assert.rejects(run('remove-switch', { SwitchName: SWITCH, OwnerTag: TAG }), /switch 'labctl-sim' is still used by VM labctl-sim-redis: left in place/);
    host.update((s) => {
      s.vms = [];
      s.switches[0].notes = 'taken over by someone';
    });
    await assert.rejects(run('remove-switch', { SwitchName: SWITCH, OwnerTag: TAG }), /switch 'labctl-sim' does not carry 'labctl:sim' in its notes: left alone/);
    host.update((s) => {
      s.switches[0].notes = `${TAG}\nCreated by labctl`;
    });
    assert.deepEqual(await run('remove-switch', { SwitchName: SWITCH, OwnerTag: TAG }), { removed: true });
    assert.deepEqual(await run('remove-switch', { SwitchName: SWITCH, OwnerTag: TAG }), { removed: false });
    assert.equal(state().host.adapters.some((a: any) => a.kind === 'vnic'), false, 'the vEthernet adapter went with the switch');
  });

  test('leftovers.ps1 names what is left of a lab, and nothing on a clean host', async () => {
    const vm = await ubuntuVm();
    await run('net-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' });
    const left = (await run('leftovers', { OwnerTag: TAG, SwitchName: SWITCH, NatName: SWITCH, LabRoot: ROOT })).leftovers;
    assert.deepEqual(left.slice(0, 3), [`VM ${vm} (Off)`, `switch ${SWITCH}`, `NAT ${SWITCH} (198.18.7.0/24)`]);
    assert.match(left[3], /^folder C:\\labctl\\vms\\sim \(\d+ items\)$/);
    await run('remove-vm', { Name: vm, OwnerTag: `${TAG}:redis`, LabRoot: ROOT });
    await run('remove-path', { Path: ROOT, LabRoot: ROOT, Recurse: true });
    await run('remove-nat', { NatName: SWITCH, Prefix: '198.18.7.0/24' });
    await run('remove-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1' });
    await run('remove-switch', { SwitchName: SWITCH, OwnerTag: TAG });
    assert.deepEqual(await run('leftovers', { OwnerTag: TAG, SwitchName: SWITCH, NatName: SWITCH, LabRoot: ROOT }), { leftovers: [] });
    const s = state();
    const diskFiles = s.disks.filter((d: any) => existsSync(host.local(d.path)));
    assert.deepEqual([s.vms.length, s.switches.length, s.nats.length, diskFiles.length, s.images.length], [0, 0, 0, 0, 0]);
    assert.deepEqual(s.host.adapters.map((a: any) => a.name), ['Ethernet'], 'the host has only its own adapter again');
  });
});

/** A VM with nothing: what someone else's VM of the lab's name looks like. */
const emptyVm = {
  id: 'c0ffee00-0000-4000-8000-000000000001',
  name: '',
  notes: '',
  path: 'C:\\ProgramData\\Microsoft\\Windows\\Hyper-V',
  generation: 2,
  state: 'Off',
  since: new Date().toISOString(),
  memoryStartupBytes: 2 ** 30,
  dynamicMemory: true,
  processorCount: 1,
  automaticCheckpointsEnabled: true,
  automaticStartAction: 'StartIfRunning',
  automaticStopAction: 'Save',
  checkpointType: 'Production',
  firmware: { secureBoot: 'On', template: 'MicrosoftWindows', templateId: '1734c6e8-3154-4dda-ba5f-a874cc483422', bootOrder: [] },
  hardDisks: [],
  dvds: [],
  adapters: [{ id: 'aaaaaaaa-0000-4000-8000-000000000001', name: 'Network Adapter', mac: '00155D010203', staticMac: false, switchName: '' }],
  comPorts: { '1': '', '2': '' },
  snapshots: [],
  guest: { os: null, phase: 'none', problem: '' },
};
