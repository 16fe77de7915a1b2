/**
 * The Windows side of the host templates against the simulated Hyper-V host, through
 * labctl's runner and real PowerShell 7: the base disk built from a Windows Server ISO
 * (build-windows-base.ps1, test-windows-base.ps1), unattend.xml written into a differencing
 * disk (inject-unattend.ps1, with the disk-signature collision of two children of one
 * base), and Windows' first boot reading that answer file as Windows Setup does (the
 * documented element order of Microsoft-Windows-TCPIP, the Administrator password's
 * complexity), up to PowerShell Direct answering (probe-psdirect.ps1, the guest behaviours).
 *
 * One simulated host for the file: the lab network and the base disk are made once; each
 * test uses VMs of its own.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { runSteps, StepFailedError } from '../../src/engine/runner.js';
import type { Step } from '../../src/engine/step.js';
import { HypervProvider } from '../../src/providers/hyperv/index.js';
import { hypervConfig, machinePaths } from '../../src/providers/hyperv/config.js';
import { encodeUnattendPassword } from '../../src/providers/hyperv/unattend.js';
import { parseSpec } from '../../src/spec/load.js';
import { LabStore } from '../../src/state/store.js';
import { SimHost } from './host.js';
import { FAST, diskAt, localDir, machine, partitionFiles, resetHost, sleep, vmOf, waitFor, writeUnattend } from './fixtures.js';

const host = new SimHost({ timing: FAST });
const local = localDir();
after(async () => {
  await host.dispose();
  rmSync(local, { recursive: true, force: true });
});

const run = <T = any>(script: string, params: Record<string, unknown>) => host.invoke<T>(`hyperv/${script}.ps1`, params, 90_000);
const state = () => host.read();

const SWITCH = 'labctl-sim';
const ROOT = 'C:\\labctl\\vms\\sim';
const ISO = 'C:\\iso\\windows-server-2022.iso';
const BASE = 'C:\\labctl\\vms\\_cache\\ws2022-2.vhdx';
const PASSWORD = 'Lab-Pass-2026-xyZ';

before(async () => {
  resetHost(host);
  host.putWindowsIso(ISO);
  await run('net-switch', { SwitchName: SWITCH, OwnerTag: 'labctl:sim', Notes: 'labctl:sim' });
  await run('net-host-ip', { SwitchName: SWITCH, IPAddress: '198.18.7.1', PrefixLength: 24 });
  await run('new-dir', { Path: ROOT });
});

let built = false;
async function base(): Promise<void> {
  if (built) return;
  await run('build-windows-base', { IsoPath: ISO, ImageIndex: 2, DestinationPath: BASE, SizeBytes: 127 * 2 ** 30 });
  built = true;
}

let macs = 0x20;
/** A web VM as labctl prepares it, up to (not including) the unattend file. */
async function webVm(name: string): Promise<{ vm: string; disk: string; mac: string }> {
  await base();
  const vm = `labctl-sim-${name}`;
  const mac = `00155DAA00${(macs++).toString(16).toUpperCase().padStart(2, '0')}`;
  const disk = `${ROOT}\\${vm}.vhdx`;
  await run('new-vm', { Name: vm, Path: ROOT, MemoryBytes: 4 * 2 ** 30, ProcessorCount: 2, SwitchName: SWITCH, MacAddress: mac, OwnerTag: `labctl:sim:${name}`, Notes: `labctl:sim:${name}` });
  await run('new-disk', { VMName: vm, Path: disk, ParentPath: BASE });
  return { vm, disk, mac };
}

async function inject(name: string, w: { disk: string; mac: string }, password = PASSWORD, transform?: (xml: string) => string) {
  const file = writeUnattend(local, machine(name, 'windows', '198.18.7.11'), w.mac, password, transform);
  return run('inject-unattend', { VhdPath: w.disk, UnattendPath: file });
}

async function boot(w: { vm: string; disk: string }) {
  await run('set-firmware', { VMName: w.vm, SecureBootTemplate: 'MicrosoftWindows', FirstBootPath: w.disk });
  await run('start-vm', { VMName: w.vm });
}

/** The guest as the simulated host has it now (a template call first: the simulator's clock runs on calls). */
/**
 * Every session of the runner started and with the Hyper-V and Storage modules loaded: a call
 * that lands on a session still starting or loading a module would let the other call finish
 * before it begins, and two calls meant to overlap would not.
 */
async function warmSessions(): Promise<void> {
  const p = { VmPath: 'C:\\labctl\\vms', LabRoot: ROOT };
  await Promise.all([1, 2, 3, 4].map(() => run('preflight', p)));
}

const phase = (vm: string) => async () => {
  await run('get-vm', { Name: vm });
  return vmOf(state(), vm).guest;
};

function windowsPartition(diskPath: string): { id: string; n: number } {
  const d = diskAt(host, diskPath);
  const p = d.partitions.find((x: any) => x.label === 'Windows');
  return { id: d.id, n: p.number };
}

describe('the Windows base disk: build-windows-base.ps1, test-windows-base.ps1', () => {
  test('built from the ISO: GPT with EFI, MSR and Windows partitions, the image applied, boot files; a note beside it; a second run builds nothing', async () => {
    await base();
    const d = diskAt(host, BASE);
    assert.equal(d.partitionStyle, 'GPT');
    assert.deepEqual(
      d.partitions.map((p: any) => [p.number, p.gptType, p.fileSystem, p.label]),
      [
        [1, '{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}', 'FAT32', 'System'],
        [2, '{e3c9e316-0b5c-4db8-817d-f92df00215ae}', '', ''],
        [3, '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}', 'NTFS', 'Windows'],
      ],
    );
    assert.equal(d.mounted, null, 'dismounted');
    assert.ok(partitionFiles(host, d.id, 1).includes('EFI/Microsoft/Boot/bootmgfw.efi'), 'bcdboot wrote the boot manager');
    assert.ok(partitionFiles(host, d.id, 3).includes('Windows/System32/winload.efi'), 'Expand-WindowsImage applied the image');
    assert.deepEqual(state().images, [], 'the ISO is dismounted');
    assert.equal(existsSync(host.local(BASE.replace(/\.vhdx$/, '.partial.vhdx'))), false);
    const note = JSON.parse(readFileSync(host.local(`${BASE}.json`), 'utf8'));
    assert.equal(note.isoPath, ISO);
    assert.equal(note.imageIndex, 2);
    assert.deepEqual(await run('build-windows-base', { IsoPath: ISO, ImageIndex: 2, DestinationPath: BASE, SizeBytes: 127 * 2 ** 30 }), { built: false, path: BASE });
  });

  test('test-windows-base.ps1: the cached base matches its ISO and index; another ISO at the path does not', async () => {
    await base();
    assert.deepEqual(await run('test-windows-base', { Path: BASE, IsoPath: ISO, ImageIndex: 2 }), { exists: true, matches: true, reason: '' });
    const other = await run('test-windows-base', { Path: BASE, IsoPath: ISO, ImageIndex: 1 });
    assert.equal(other.matches, false);
    assert.match(other.reason, /index 2/);
    assert.deepEqual(await run('test-windows-base', { Path: `${ROOT}\\none.vhdx`, IsoPath: ISO, ImageIndex: 2 }), { exists: false, matches: false });
  });

  test('an image index the ISO does not have is named with the ones it has', async () => {
    host.putWindowsIso('C:\\iso\\other.iso');
    await assert.rejects(
      run('build-windows-base', { IsoPath: 'C:\\iso\\other.iso', ImageIndex: 7, DestinationPath: `${ROOT}\\other.vhdx`, SizeBytes: 127 * 2 ** 30 }),
      /image index 7 is not in .*install\.wim: 1 = Windows Server 2022 Standard; 2 = Windows Server 2022 Standard \(Desktop Experience\)/,
    );
    assert.deepEqual(state().images, [], 'the ISO is dismounted after the failure');
  });

  test('an ISO the user had mounted stays mounted, with its drive letter', async () => {
    host.putWindowsIso('C:\\iso\\mine.iso');
    host.update((s) => {
      const dir = `${host.dir}/disks/iso-user/0`;
      s.images.push({ path: 'C:\\iso\\mine.iso', contentDir: dir, label: 'MINE', size: 100, number: 5, devicePath: '\\\\.\\CDROM5', volumeGuid: 'a0a0a0a0-0000-4000-8000-000000000005', mountedAt: new Date().toISOString(), letter: 'R', letterVisible: true });
    });
    // the user's mount has no install.wim in this test: the build fails, and must leave the mount alone
    await assert.rejects(run('build-windows-base', { IsoPath: 'C:\\iso\\mine.iso', ImageIndex: 2, DestinationPath: `${ROOT}\\mine.vhdx`, SizeBytes: 127 * 2 ** 30 }), /has no sources\\install\.wim/);
    assert.deepEqual(state().images.map((i: any) => [i.path, i.letter]), [['C:\\iso\\mine.iso', 'R']]);
    host.update((s) => {
      s.images = [];
      delete s.host.drives.R;
    });
  });
});

describe('unattend.xml into a differencing disk: inject-unattend.ps1', () => {
  test('written to \\Windows\\Panther of the Windows volume; the disk is dismounted afterwards', async () => {
    const w = await webVm('inj1');
    const r = await inject('inj1', w);
    // (Join-Path joins with the separator of the system it runs on: / here, \ on Windows)
    assert.match(r.written, /^[D-Z]:[\\/]Windows[\\/]Panther[\\/]unattend\.xml$/);
    const p = windowsPartition(w.disk);
    assert.ok(partitionFiles(host, p.id, p.n).includes('Windows/Panther/unattend.xml'));
    assert.equal(diskAt(host, w.disk).mounted, null);
    const base = diskAt(host, BASE);
    const bp = base.partitions.find((x: any) => x.label === 'Windows').number;
    assert.ok(!partitionFiles(host, base.id, bp).includes('Windows/Panther/unattend.xml'), 'the base is only ever read');
  });

  test('a disk left mounted by an interrupted run is dismounted first, and the run goes through', async () => {
    const w = await webVm('inj2');
    const id = diskAt(host, w.disk).id;
    host.update((s) => {
      s.disks.find((x: any) => x.id === id).mounted = { number: 3, offline: false, readOnly: false, reason: '' };
    });
    try {
      const r = await inject('inj2', w);
      assert.match(r.written, /unattend\.xml$/);
      assert.equal(diskAt(host, w.disk).mounted, null);
    } finally {
      host.update((s) => {
        s.disks.find((x: any) => x.id === id).mounted = null;
      });
    }
  });

  test('a second child of the base mounted at the same time comes up offline (same disk signature): inject fails naming the disk and never brings it online', async () => {
    const a = await webVm('inj3');
    const b = await webVm('inj4');
    const aid = diskAt(host, a.disk).id;
    host.update((s) => {
      // the other child is mounted, as by a parallel inject
      s.disks.find((x: any) => x.id === aid).mounted = { number: 2, offline: false, readOnly: false, reason: '' };
    });
    try {
      await assert.rejects(inject('inj4', b), /disk \d+ \(C:\\labctl\\vms\\sim\\labctl-sim-inj4\.vhdx\) came up offline .*signature/);
      const d = diskAt(host, b.disk);
      assert.equal(d.mounted, null, 'dismounted again');
      assert.equal(d.signature, null, 'never brought online: it keeps the base\'s signature (its Windows still boots)');
    } finally {
      host.update((s) => {
        s.disks.find((x: any) => x.id === aid).mounted = null;
      });
    }
  });

  test('two injects at once through the runner collide; one disk at a time they do not', async () => {
    const a = await webVm('par1');
    const b = await webVm('par2');
    // mounting takes a moment (Mount-VHD returns once the other disk is mounted too, or after
    // 1.5 s), so the two calls overlap as they can on a real host
    host.update((s) => {
      s.config.timing.mountSeconds = 1.5;
    });
    await warmSessions();
    try {
      const both = await Promise.allSettled([inject('par1', a), inject('par2', b)]);
      const failed = both.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      assert.equal(failed.length, 1, `exactly one collides: ${JSON.stringify(both.map((r) => r.status))}`);
      assert.match(String(failed[0]!.reason.message), /came up offline/);
      await inject('par1', a);
      await inject('par2', b);
    } finally {
      host.update((s) => {
        delete s.config.timing.mountSeconds;
      });
    }
  });
});

describe('inject-unattend through labctl\'s own steps', () => {
  test('the unattend steps of two Windows VMs take turns (Step.exclusive "hyperv:mount"); without that they collide', async () => {
    await base();
    const text = [
      'name: prov',
      'network: { subnet: 198.18.9.0/24 }',
      'redis: { version: 7.0.15 }',
      'machines:',
      '  redis: { role: redis, os: ubuntu, ip: 198.18.9.10, cpus: 2, memory: 2GB, disk: 20GB }',
      '  web1: { role: web, os: windows, ip: 198.18.9.11, cpus: 2, memory: 4GB, disk: 40GB }',
      '  web2: { role: web, os: windows, ip: 198.18.9.12, cpus: 2, memory: 4GB, disk: 40GB }',
      'hyperv:',
      '  ubuntuIso: C:\\iso\\ubuntu.iso',
      `  windowsImage: ${BASE.replace(/\\/g, '\\\\')}`,
      '  vmPath: C:\\labctl\\vms',
      '  dns: [192.168.50.1]',
      '',
    ].join('\n');
    const file = path.join(local, 'prov.yaml');
    writeFileSync(file, text);
    const spec = parseSpec(text, file);
    const cfg = hypervConfig(spec);
    const store = new LabStore(path.join(local, 'home'), spec.name);
    store.open('test');
    store.init('hyperv', { file: spec.file, hash: spec.hash });
    try {
      // the VMs and their differencing disks, as the steps before make them
      await run('new-dir', { Path: cfg.labRoot });
      for (const m of spec.machines.filter((x) => x.os === 'windows')) {
        const p = machinePaths(cfg, m);
        await run('new-vm', { Name: p.vm, Path: cfg.labRoot, MemoryBytes: m.memoryBytes, ProcessorCount: 2, SwitchName: SWITCH, MacAddress: p.mac, OwnerTag: `labctl:prov:${m.name}`, Notes: `labctl:prov:${m.name}` });
        await run('new-disk', { VMName: p.vm, Path: p.osDisk, ParentPath: BASE });
      }
      const provider = new HypervProvider({ runner: host.runner(), consoleTap: () => ({ stop() {} }), sshProbe: async () => ({ ok: false }) });
      const steps = provider.createSteps({ spec, store, home: path.join(local, 'home') });
      const unattend = (without?: 'exclusive'): Step[] =>
        steps
          .filter((st) => /^machine:web\d:unattend$/.test(st.id))
          .map((st) => ({ ...st, deps: [], ...(without ? { exclusive: undefined } : {}) }));
      assert.deepEqual(unattend().map((st) => st.exclusive), ['hyperv:mount', 'hyperv:mount']);
      host.update((s) => {
        s.config.timing.mountSeconds = 1.5;
      });
      await warmSessions();
      try {
        // control: the same two steps without the key run at once and collide
        const err = await runSteps(unattend('exclusive'), { store, concurrency: 4 }).catch((e) => e);
        assert.ok(err instanceof StepFailedError, 'without the exclusive key the injects run together');
        assert.match(err.message, /came up offline/);
        // with the key, both run again (their journal check dropped: the control run journaled one
        // of them) into a journal of their own, and both succeed
        const again = new LabStore(path.join(local, 'home2'), spec.name);
        again.open('test');
        again.init('hyperv', { file: spec.file, hash: spec.hash });
        try {
          const r = await runSteps(unattend().map((st) => ({ ...st, check: undefined })), { store: again, concurrency: 4 });
          assert.deepEqual(r.applied.sort(), ['machine:web1:unattend', 'machine:web2:unattend']);
        } finally {
          again.close();
        }
        for (const m of spec.machines.filter((x) => x.os === 'windows')) {
          const p = windowsPartition(machinePaths(cfg, m).osDisk);
          assert.ok(partitionFiles(host, p.id, p.n).includes('Windows/Panther/unattend.xml'), `${m.name}'s disk has its answer file`);
        }
      } finally {
        host.update((s) => {
          delete s.config.timing.mountSeconds;
        });
      }
    } finally {
      store.close();
    }
  });
});

describe('Windows\' first boot with the answer file', () => {
  test('specialize and oobeSystem pass: the name, the generated password, the address by MAC; PowerShell Direct answers', async () => {
    const w = await webVm('web1');
    await inject('web1', w);
    // while Windows boots (held there: under load a fraction of a second is soon gone) Hyper-V has no heartbeat
    host.update((s) => {
      s.config.timing.bootSeconds = 600;
    });
    await boot(w);
    assert.equal((await run('get-vm', { Name: w.vm })).heartbeat, 'NoContact');
    host.update((s) => {
      s.config.timing.bootSeconds = FAST.bootSeconds;
    });
    const g = await waitFor('Windows setup finishes', phase(w.vm), (x) => x.phase !== 'booting' && x.phase !== 'setup');
    assert.equal(g.phase, 'ready', g.problem);
    assert.equal(g.computerName, 'WEB1');
    assert.equal(g.adminPassword, PASSWORD);
    assert.deepEqual(g.ipv4, ['198.18.7.11']);
    const p = windowsPartition(w.disk);
    assert.equal(g.drives.C, `${host.dir}/disks/${p.id}/${p.n}`);
    const facts = await run('get-vm', { Name: w.vm, MacAddress: w.mac });
    assert.equal(facts.heartbeat, 'OkApplicationsHealthy');
    assert.equal(facts.adapters[0].addresses[0], '198.18.7.11');
    assert.deepEqual(await run('probe-psdirect', { VMName: w.vm, UserName: 'Administrator', Password: PASSWORD }), { answered: true, computerName: 'WEB1' });
    const wrong = await run('probe-psdirect', { VMName: w.vm, UserName: 'Administrator', Password: 'not-it' });
    assert.equal(wrong.answered, false);
  });

  test('TCPIP Interface and Route children out of the documented order: setup stops in specialize, setuperr.log says why', async () => {
    const w = await webVm('order');
    // the order labctl's unattend.xml had: Identifier first, Route with Prefix before NextHopAddress
    await inject('order', w, PASSWORD, (xml) =>
      xml
        .replace(/(<Interface wcm:action="add">\s*)(<Ipv4Settings>[\s\S]*?<\/Ipv4Settings>\s*)(<Identifier>[^<]*<\/Identifier>\s*)/, '$1$3$2')
        .replace(/(<Metric>[^<]*<\/Metric>\s*)(<NextHopAddress>[^<]*<\/NextHopAddress>\s*)(<Prefix>[^<]*<\/Prefix>\s*)/, '$3$2$1'),
    );
    await boot(w);
    const g = await waitFor('setup stops', phase(w.vm), (x) => x.phase === 'failed' || x.phase === 'ready');
    assert.equal(g.phase, 'failed');
    assert.match(g.problem, /Windows could not parse or process unattend answer file \[C:\\Windows\\Panther\\unattend\.xml\] for pass \[specialize\]/);
    assert.match(g.problem, /Microsoft-Windows-TCPIP Interface: <Ipv4Settings> comes after <Identifier>/);
    assert.match(g.problem, /Microsoft-Windows-TCPIP Route: <\w+> comes after <Prefix>/);
    const p = windowsPartition(w.disk);
    const log = readFileSync(`${host.dir}/disks/${p.id}/${p.n}/Windows/Panther/setuperr.log`, 'utf8');
    assert.match(log, /Microsoft-Windows-TCPIP/);
    assert.equal((await run('probe-psdirect', { VMName: w.vm, UserName: 'Administrator', Password: PASSWORD })).answered, false);
  });

  test('an Administrator password without a digit or symbol fails the complexity rule: setup stops', async () => {
    const w = await webVm('weak');
    await inject('weak', w, 'abcdefghijklmnopqrSTUVWX');
    await boot(w);
    const g = await waitFor('setup stops', phase(w.vm), (x) => x.phase === 'failed' || x.phase === 'ready');
    assert.equal(g.phase, 'failed');
    assert.match(g.problem, /AdministratorPassword does not meet the password policy's complexity requirements: it has only uppercase letters and lowercase letters/);
    const p = windowsPartition(w.disk);
    assert.match(readFileSync(`${host.dir}/disks/${p.id}/${p.n}/Windows/Panther/setuperr.log`, 'utf8'), /complexity/);
  });

  test('the answer file\'s password is decoded from Windows\' encoded form (base64 of UTF-16LE password + "AdministratorPassword")', async () => {
    const w = await webVm('enc');
    await inject('enc', w, 'Ab1!' + 'x'.repeat(10), (xml) => {
      assert.ok(xml.includes(encodeUnattendPassword('Ab1!' + 'x'.repeat(10))), 'labctl writes the encoded form');
      return xml;
    });
    await boot(w);
    const g = await waitFor('ready', phase(w.vm), (x) => x.phase === 'ready' || x.phase === 'failed');
    assert.equal(g.adminPassword, 'Ab1!xxxxxxxxxx');
  });

  test('a guest that never finishes setup stays in setup (for the diagnosis)', async () => {
    const w = await webVm('stuck');
    host.update((s) => {
      s.config.failures.setupNeverFinishes = [w.vm];
    });
    try {
      await inject('stuck', w);
      await boot(w);
      await sleep(1200);
      const g = await phase(w.vm)();
      assert.equal(g.phase, 'setup');
      assert.match(g.problem, /still running/);
      const facts = await run('get-vm', { Name: w.vm });
      assert.equal(facts.heartbeat, 'OkApplicationsHealthy');
      assert.equal((await run('probe-psdirect', { VMName: w.vm, UserName: 'Administrator', Password: PASSWORD })).answered, false);
    } finally {
      host.update((s) => {
        s.config.failures.setupNeverFinishes = [];
      });
    }
  });

  test('a disk brought online after a signature collision got a new signature: its Windows no longer boots', async () => {
    const w = await webVm('resig');
    await inject('resig', w);
    const rid = diskAt(host, w.disk).id;
    host.update((s) => {
      // what "Set-Disk -IsOffline $false" does to the colliding disk: a signature of its own
      s.disks.find((x: any) => x.id === rid).signature = 'b0b0b0b0-0000-4000-8000-00000000000b';
    });
    await boot(w);
    const g = vmOf(state(), w.vm).guest;
    assert.equal(g.phase, 'failed');
    assert.match(g.problem, /0xc000000e/);
  });

  test('under the Microsoft UEFI CA template Windows does not boot (Secure Boot violation)', async () => {
    const w = await webVm('sb');
    await inject('sb', w);
    await run('set-firmware', { VMName: w.vm, SecureBootTemplate: 'MicrosoftUEFICertificateAuthority', FirstBootPath: w.disk });
    await run('start-vm', { VMName: w.vm });
    const g = vmOf(state(), w.vm).guest;
    assert.equal(g.phase, 'none');
    assert.match(g.problem, /Windows Boot Manager: the signed image's hash is not allowed \(DB\): Secure Boot violation/);
  });
});
