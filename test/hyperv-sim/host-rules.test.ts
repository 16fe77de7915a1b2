/**
 * The documented rules of the simulated Hyper-V host, cmdlet by cmdlet, where no template
 * reaches them (labctl's scripts avoid them on purpose: they turn a VM off before removing it,
 * change firmware only while it is off, ...). One PowerShell session with the simulator
 * loaded (pwsh-sim, as labctl's runner starts it) runs a script of attempts; each answer is
 * what the cmdlet did or the error it gave. The sources of the rules are cited in
 * behaviours/host-*.ps1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { PWSH_SIM, SimHost } from './host.js';
import { FAST } from './fixtures.js';

const host = new SimHost({ timing: FAST });
after(() => host.dispose());

const SCRIPT = String.raw`
$ErrorActionPreference = 'Stop'
$r = [ordered]@{}
function Try-It([string]$Name, [scriptblock]$Block) {
  try { $v = & $Block; $r[$Name] = @{ ok = $true; value = $v } } catch { $r[$Name] = @{ ok = $false; error = $_.Exception.Message } }
}
New-Item -ItemType Directory -Path C:\vms -Force | Out-Null
New-VMSwitch -Name lab -SwitchType Internal -Notes 'labctl:rules' | Out-Null
$vm = New-VM -Name v1 -Path C:\vms -Generation 2 -MemoryStartupBytes 1GB -NoVHD -SwitchName lab
New-VHD -Path C:\vms\d1.vhdx -SizeBytes 10GB -Dynamic | Out-Null
Add-VMHardDiskDrive -VM $vm -Path C:\vms\d1.vhdx
Set-VM -VM $vm -StaticMemory -ProcessorCount 1
Try-It 'state is an enum that compares as a string' { @([string]$vm.State, ($vm.State -eq 'Off'), (ConvertTo-Json -InputObject $vm.State)) }
Start-VM -VM $vm
$vm = Get-VM -Name v1
Try-It 'Set-VMProcessor -Count on a running VM' { Set-VMProcessor -VM $vm -Count 4 }
Try-It 'Set-VM -ProcessorCount on a running VM' { Set-VM -VM $vm -ProcessorCount 4 }
Try-It 'Set-VM -ProcessorCount unchanged on a running VM' { Set-VM -VM $vm -ProcessorCount 1 }
Try-It 'Set-VMMemory -StartupBytes on a running VM whose guest is not up' { Set-VMMemory -VM $vm -StartupBytes 2GB }
Try-It 'Set-VM -DynamicMemory on a running VM' { Set-VM -VM $vm -DynamicMemory }
Try-It 'Set-VMFirmware on a running VM' { Set-VMFirmware -VM $vm -EnableSecureBoot Off }
Try-It 'Remove-VM of a running VM' { Remove-VM -VM $vm -Force }
Try-It 'Mount-VHD of a running VM disk' { Mount-VHD -Path C:\vms\d1.vhdx }
Try-It 'Remove-Item of a running VM disk' { Remove-Item -LiteralPath C:\vms\d1.vhdx -Force }
Try-It 'Remove-VMSwitch of a switch a running VM uses' { Remove-VMSwitch -Name lab -Force }
Try-It 'heartbeat of a VM with nothing to boot' { [string](Get-VM -Name v1).Heartbeat }
Stop-VM -VM $vm -TurnOff -Force
Try-It 'heartbeat of a VM that is off' { [string](Get-VM -Name v1).Heartbeat }
Try-It 'Mount-VHD twice' { Mount-VHD -Path C:\vms\d1.vhdx; Mount-VHD -Path C:\vms\d1.vhdx }
Dismount-VHD -Path C:\vms\d1.vhdx
Try-It 'Remove-Item of a mounted disk' { Mount-VHD -Path C:\vms\d1.vhdx; try { Remove-Item -LiteralPath C:\vms\d1.vhdx -Force } finally { Dismount-VHD -Path C:\vms\d1.vhdx } }
Try-It 'New-VMSwitch with a name that is taken' { New-VMSwitch -Name lab -SwitchType Internal | Out-Null; @(Get-VMSwitch -Name lab).Count }
Try-It 'New-NetNat' { New-NetNat -Name n1 -InternalIPInterfaceAddressPrefix 10.70.0.0/24 | Out-Null; 'made' }
Try-It 'New-NetNat overlapping' { New-NetNat -Name n2 -InternalIPInterfaceAddressPrefix 10.70.0.128/25 }
Try-It 'New-NetNat with a name that is taken' { New-NetNat -Name n1 -InternalIPInterfaceAddressPrefix 10.71.0.0/24 }
Try-It 'New-NetNat beside another' { New-NetNat -Name n3 -InternalIPInterfaceAddressPrefix 10.72.0.0/24 | Out-Null; 'made' }
$ifIndex = (Get-NetAdapter -Name 'vEthernet (lab)').ifIndex
Try-It 'New-NetIPAddress while DHCP is on' { New-NetIPAddress -InterfaceIndex $ifIndex -IPAddress 10.70.0.1 -PrefixLength 24 }
Try-It 'Get-DiskImage of an ISO that is not mounted' { $i = Get-DiskImage -ImagePath C:\iso\w.iso; @($i.Attached, $i.DevicePath) }
Try-It 'Dismount-DiskImage of an ISO that is not mounted' { Dismount-DiskImage -ImagePath C:\iso\w.iso }
Try-It 'ISO drive letter right after Mount-DiskImage, and a moment later' {
  Mount-DiskImage -ImagePath C:\iso\w.iso -StorageType ISO | Out-Null
  $now = (Get-DiskImage -ImagePath C:\iso\w.iso | Get-Volume).DriveLetter
  Start-Sleep -Milliseconds 700
  $later = (Get-DiskImage -ImagePath C:\iso\w.iso | Get-Volume).DriveLetter
  $wim = Test-Path -LiteralPath ('{0}:\sources\install.wim' -f $later)
  Dismount-DiskImage -ImagePath C:\iso\w.iso | Out-Null
  @([string]$now, [string]$later, $wim)
}
Try-It 'two children of one parent mounted: the second offline, online only with a new signature' {
  New-VHD -Path C:\vms\p.vhdx -SizeBytes 10GB -Dynamic | Out-Null
  $d = Mount-VHD -Path C:\vms\p.vhdx -Passthru | Get-Disk
  Initialize-Disk -Number $d.Number -PartitionStyle GPT
  Dismount-VHD -Path C:\vms\p.vhdx
  New-VHD -Path C:\vms\c1.vhdx -ParentPath C:\vms\p.vhdx -Differencing | Out-Null
  New-VHD -Path C:\vms\c2.vhdx -ParentPath C:\vms\p.vhdx -Differencing | Out-Null
  $a = Mount-VHD -Path C:\vms\c1.vhdx -Passthru | Get-Disk
  $b = Mount-VHD -Path C:\vms\c2.vhdx -Passthru | Get-Disk
  Set-Disk -Number $b.Number -IsOffline $false
  $b2 = Get-Disk -Number $b.Number
  Dismount-VHD -Path C:\vms\c1.vhdx
  Dismount-VHD -Path C:\vms\c2.vhdx
  @($a.IsOffline, $b.IsOffline, [string]$b.OfflineReason, $b2.IsOffline, ($a.Guid -eq $b.Guid), ($a.Guid -eq $b2.Guid))
}
$vm = Get-VM -Name v1
Try-It 'Save-VM of a VM that is off' { Save-VM -VM $vm }
Try-It 'Checkpoint-VM with a name of 101 characters' { Checkpoint-VM -VM $vm -SnapshotName ('x' * 101) }
Try-It 'Checkpoint-VM of a VM that is off: a production checkpoint, the VM on a .avhdx' {
  Checkpoint-VM -VM $vm -SnapshotName c1
  @([string](Get-VMHardDiskDrive -VM $vm).Path, @(Get-VMSnapshot -VM $vm).Count, [string](Get-VHD -Path (Get-VMHardDiskDrive -VM $vm).Path).ParentPath)
}
Start-VM -VM $vm
Try-It 'Checkpoint-VM ProductionOnly of a running VM whose guest is not up' { Set-VM -VM $vm -CheckpointType ProductionOnly; Checkpoint-VM -VM $vm -SnapshotName c2 }
Set-VM -VM $vm -CheckpointType Production
Try-It 'Checkpoint-VM Production of a running VM whose guest is not up falls back to standard' { Checkpoint-VM -VM $vm -SnapshotName c3; @(Get-VMSnapshot -VM $vm).Name }
Try-It 'Restore-VMSnapshot of a running VM' { Restore-VMSnapshot -Name c1 -VMName v1 -Confirm:$false }
Try-It 'Save-VM of a running VM; Start-VM resumes it' { Save-VM -VM $vm; $saved = [string](Get-VM -Name v1).State; Start-VM -VM $vm; @($saved, [string](Get-VM -Name v1).State) }
Stop-VM -VM $vm -TurnOff -Force
Try-It 'Restore-VMSnapshot of a standard checkpoint taken while running: the VM is saved in that moment' { Restore-VMSnapshot -Name c3 -VMName v1 -Confirm:$false; [string](Get-VM -Name v1).State }
Try-It 'Restore-VMSnapshot of a production checkpoint: the VM is off' { Restore-VMSnapshot -VMSnapshot (Get-VMSnapshot -VM $vm -Name c1) -Confirm:$false; [string](Get-VM -Name v1).State }
Try-It 'Remove-VMSnapshot of every checkpoint merges the .avhdx files back' {
  Get-VMSnapshot -VM $vm | Remove-VMSnapshot
  Start-Sleep -Milliseconds 500
  @([string](Get-VMHardDiskDrive -VM $vm).Path, @(Get-ChildItem -Path C:\vms -Filter '*.avhdx').Count)
}
Try-It 'Remove-VM of a VM that is off' { Remove-VM -VM $vm -Force; @(Get-VM).Count }
Try-It 'Remove-Item of a disk no VM uses' { Remove-Item -LiteralPath C:\vms\d1.vhdx -Force; Test-Path -LiteralPath C:\vms\d1.vhdx }
'<<rules>>' + (ConvertTo-Json -InputObject $r -Depth 5 -Compress)
`;

let results: Record<string, { ok: boolean; value?: unknown; error?: string }> = {};
before(async () => {
  host.putWindowsIso('C:\\iso\\w.iso');
  const file = path.join(host.dir, 'rules.ps1');
  writeFileSync(file, SCRIPT);
  const { stdout } = await promisify(execFile)(PWSH_SIM, ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', file], {
    env: { ...process.env, ...host.env() },
    maxBuffer: 16 * 2 ** 20,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('<<rules>>'));
  assert.ok(line, stdout);
  results = JSON.parse(line.slice('<<rules>>'.length));
});

function refused(name: string, re: RegExp): void {
  const r = results[name];
  assert.ok(r, `no result for ${name}`);
  assert.equal(r.ok, false, `${name} was accepted: ${JSON.stringify(r.value)}`);
  assert.match(r.error!, re, name);
}
function value(name: string): unknown {
  const r = results[name];
  assert.ok(r?.ok, `${name} failed: ${r?.error}`);
  return r!.value;
}

test('a VM\'s State is Hyper-V\'s enum: it reads and compares as its name, and serializes as a number', () => {
  assert.deepEqual(value('state is an enum that compares as a string'), ['Off', true, '3']);
});

test('a running VM: its processors, Dynamic Memory and firmware cannot change, nor its memory while the guest is not up', () => {
  refused('Set-VMProcessor -Count on a running VM', /'v1' failed to modify settings: the number of virtual processors cannot be changed while the virtual machine is Running/);
  refused('Set-VM -ProcessorCount on a running VM', /'v1'.*virtual processors/);
  value('Set-VM -ProcessorCount unchanged on a running VM');
  refused('Set-VMMemory -StartupBytes on a running VM whose guest is not up', /'v1'.*runtime memory resize/);
  refused('Set-VM -DynamicMemory on a running VM', /'v1'.*Dynamic Memory cannot be turned on or off/);
  refused('Set-VMFirmware on a running VM', /'v1' failed to modify settings: firmware settings/);
});

test('a running VM cannot be removed, nor its disk mounted or deleted, nor its switch removed', () => {
  refused('Remove-VM of a running VM', /virtual machine 'v1' is in its current state \(Running\): turn it off first/);
  refused('Mount-VHD of a running VM disk', /C:\\vms\\d1\.vhdx' because it is being used by another process\. \(virtual machine 'v1' is Running/);
  refused('Remove-Item of a running VM disk', /Cannot remove item C:\\vms\\d1\.vhdx: The process cannot access the file/);
  refused('Remove-VMSwitch of a switch a running VM uses', /The virtual switch 'lab' cannot be deleted because it is being used by running virtual machines.*v1/);
});

test('heartbeat: NoContact while nothing runs in the VM, empty when it is off', () => {
  assert.equal(value('heartbeat of a VM with nothing to boot'), 'NoContact');
  assert.equal(value('heartbeat of a VM that is off'), '');
});

test('a mounted disk: not mounted twice, not deleted', () => {
  refused('Mount-VHD twice', /being used by another process\. \(it is mounted on the host as disk \d+\)/);
  refused('Remove-Item of a mounted disk', /Cannot remove item C:\\vms\\d1\.vhdx/);
});

test('switch names may repeat (Hyper-V keys switches by id)', () => {
  assert.equal(value('New-VMSwitch with a name that is taken'), 2);
});

test('NetNat: a taken name, an overlapping prefix are refused; another prefix is not (natLimit unset)', () => {
  value('New-NetNat');
  refused('New-NetNat overlapping', /^The parameter is incorrect\.$/);
  refused('New-NetNat with a name that is taken', /The object already exists/);
  assert.equal(value('New-NetNat beside another'), 'made');
});

test('New-NetIPAddress on an interface with DHCP on is refused (turn DHCP off first)', () => {
  refused('New-NetIPAddress while DHCP is on', /Inconsistent parameters PolicyStore PersistentStore and Dhcp Enabled/);
});

test('ISO images: described when not mounted, not dismounted then; the drive letter comes a moment after mounting', () => {
  assert.deepEqual(value('Get-DiskImage of an ISO that is not mounted'), [false, null]);
  refused('Dismount-DiskImage of an ISO that is not mounted', /is not attached/);
  const [now, later, wim] = value('ISO drive letter right after Mount-DiskImage, and a moment later') as [string, string, boolean];
  assert.equal(now, '', 'no letter yet');
  assert.match(later, /^[D-Z]$/);
  assert.equal(wim, true, 'the letter reaches the ISO\'s files');
});

test('disk signature: the second of two children of one parent comes up offline; brought online it gets a signature of its own', () => {
  assert.deepEqual(value('two children of one parent mounted: the second offline, online only with a new signature'), [false, true, 'Collision', false, true, false]);
});

test("Save-VM and checkpoints: what Microsoft's pages say (behaviours/host-vm.ps1 cites them)", () => {
  refused('Save-VM of a VM that is off', /current state \(Off\)/);
  refused('Checkpoint-VM with a name of 101 characters', /limited to 100 characters/);
  const [path, count, parent] = value('Checkpoint-VM of a VM that is off: a production checkpoint, the VM on a .avhdx') as [string, number, string];
  assert.match(path, /^C:\\vms\\d1_[0-9A-F-]{36}\.avhdx$/);
  assert.deepEqual([count, parent], [1, 'C:\\vms\\d1.vhdx']);
  refused('Checkpoint-VM ProductionOnly of a running VM whose guest is not up', /production checkpoint could not be created/);
  assert.deepEqual(value('Checkpoint-VM Production of a running VM whose guest is not up falls back to standard'), ['c1', 'c3']);
  refused('Restore-VMSnapshot of a running VM', /turn it off first/);
  assert.deepEqual(value('Save-VM of a running VM; Start-VM resumes it'), ['Saved', 'Running']);
  assert.equal(value('Restore-VMSnapshot of a standard checkpoint taken while running: the VM is saved in that moment'), 'Saved');
  assert.equal(value('Restore-VMSnapshot of a production checkpoint: the VM is off'), 'Off');
  assert.deepEqual(value('Remove-VMSnapshot of every checkpoint merges the .avhdx files back'), ['C:\\vms\\d1.vhdx', 0]);
});

test('a VM that is off is removed; then its disk file can go', () => {
  assert.equal(value('Remove-VM of a VM that is off'), 0);
  assert.equal(value('Remove-Item of a disk no VM uses'), false);
});
