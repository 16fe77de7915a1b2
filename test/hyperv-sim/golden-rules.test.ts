/**
 * The simulated host's rules for differencing disks, which the Ubuntu golden disk relies on
 * (sources in behaviours/host-disk.ps1 [vhd-parent]), and the golden-disk templates against
 * them: a parent written to after a child was made (a VM started on it, a mount for writing)
 * no longer matches the child; a VM does not start on a read-only disk of its own, but does on a
 * child of a read-only parent; a parent whose child is in use cannot be deleted; golden-save.ps1
 * refuses a running VM; golden-cache.ps1 keeps a golden disk a VM's disk is a child of, naming
 * the VM, and removes one nobody uses. One PowerShell session with the simulator loaded.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FAST } from './fixtures.js';
import { hostScript } from './guest-helpers.js';
import { REPO, SimHost } from './host.js';

const host = new SimHost({ timing: FAST });
const TEMPLATES = `${REPO}/templates/hyperv`.replace(/'/g, "''");
after(() => host.dispose());

const SETUP = String.raw`
$T = '${TEMPLATES}'
$r = [ordered]@{}
function Try-It([string]$Name, [scriptblock]$Block) {
  try { $v = & $Block; $r[$Name] = @{ ok = $true; value = $v } } catch { $r[$Name] = @{ ok = $false; error = $_.Exception.Message } }
}
New-Item -ItemType Directory -Path C:\vms\cache -Force | Out-Null
New-VMSwitch -Name lab -SwitchType Internal -Notes 'labctl:golden' | Out-Null
function New-TestVm([string]$Name, [string]$Disk) {
  $vm = New-VM -Name $Name -Path C:\vms -Generation 2 -MemoryStartupBytes 1GB -NoVHD -SwitchName lab
  Add-VMHardDiskDrive -VM $vm -Path $Disk
  return $vm
}
`;

test('a parent written to after its child was made breaks the child; a read-only parent does not', async () => {
  const r = await hostScript(
    host,
    SETUP +
      String.raw`
New-VHD -Path C:\vms\cache\g.vhdx -SizeBytes 10GB -Dynamic | Out-Null
New-VHD -Path C:\vms\c1.vhdx -ParentPath C:\vms\cache\g.vhdx -Differencing | Out-Null
Set-ItemProperty -LiteralPath C:\vms\cache\g.vhdx -Name IsReadOnly -Value $true
$child = New-TestVm 'child' C:\vms\c1.vhdx
Try-It 'a child of a read-only parent starts' { Start-VM -VM $child; [string](Get-VM -Name child).State }
Stop-VM -VM $child -TurnOff -Force
$onParent = New-TestVm 'parent' C:\vms\cache\g.vhdx
Try-It 'a VM on the read-only parent itself' { Start-VM -VM $onParent }
Set-ItemProperty -LiteralPath C:\vms\cache\g.vhdx -Name IsReadOnly -Value $false
Try-It 'a VM on the parent once it is writable' { Start-VM -VM $onParent; Stop-VM -VM $onParent -TurnOff -Force; 'ran' }
Try-It 'the child after its parent ran' { Start-VM -VM $child }
New-VHD -Path C:\vms\c2.vhdx -ParentPath C:\vms\cache\g.vhdx -Differencing | Out-Null
Mount-VHD -Path C:\vms\cache\g.vhdx
Dismount-VHD -Path C:\vms\cache\g.vhdx
$c2 = New-TestVm 'child2' C:\vms\c2.vhdx
Try-It 'a child after its parent was mounted for writing' { Start-VM -VM $c2 }
New-VHD -Path C:\vms\c3.vhdx -ParentPath C:\vms\cache\g.vhdx -Differencing | Out-Null
Mount-VHD -Path C:\vms\cache\g.vhdx -ReadOnly
Dismount-VHD -Path C:\vms\cache\g.vhdx
$c3 = New-TestVm 'child3' C:\vms\c3.vhdx
Try-It 'a child after its parent was mounted read-only' { Start-VM -VM $c3; [string](Get-VM -Name child3).State }
Try-It 'Remove-Item of a parent whose child runs' { Remove-Item -LiteralPath C:\vms\cache\g.vhdx -Force }
Stop-VM -VM $c3 -TurnOff -Force
Remove-Item -LiteralPath C:\vms\cache\g.vhdx -Force
Try-It 'a child whose parent was deleted' { Start-VM -VM $c3 }
$r
`,
  );
  assert.deepEqual(r['a child of a read-only parent starts'], { ok: true, value: 'Running' });
  assert.equal(r['a VM on the read-only parent itself'].ok, false);
  assert.match(r['a VM on the read-only parent itself'].error, /Access is denied.*read-only/);
  assert.deepEqual(r['a VM on the parent once it is writable'], { ok: true, value: 'ran' });
  assert.equal(r['the child after its parent ran'].ok, false);
  assert.match(r['the child after its parent ran'].error, /mismatch in the identifiers of the parent virtual hard disk and differencing disk/);
  assert.match(r['a child after its parent was mounted for writing'].error, /mismatch in the identifiers/);
  assert.deepEqual(r['a child after its parent was mounted read-only'], { ok: true, value: 'Running' });
  assert.equal(r['Remove-Item of a parent whose child runs'].ok, false);
  assert.match(r['Remove-Item of a parent whose child runs'].error, /being used by another process/);
  assert.match(r['a child whose parent was deleted'].error, /chain of virtual hard disks is broken/);
});

test('golden-save.ps1 refuses a running VM; keeps an off VM\'s disk read-only in the cache and puts the VM on a child at its old path', async () => {
  const made = await hostScript(
    host,
    SETUP +
      String.raw`
New-VHD -Path C:\vms\u1.vhdx -SizeBytes 10GB -Dynamic | Out-Null
$vm = New-TestVm 'u1' C:\vms\u1.vhdx
Start-VM -VM $vm
Try-It 'running' { & $T/golden-save.ps1 -VMName u1 -DiskPath C:\vms\u1.vhdx -GoldenPath C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx -Note '{}' }
Stop-VM -VM $vm -TurnOff -Force
Try-It 'off' { & $T/golden-save.ps1 -VMName u1 -DiskPath C:\vms\u1.vhdx -GoldenPath C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx -Note '{"lab":"x","machine":"u1"}' }
Try-It 'again' { (& $T/golden-save.ps1 -VMName u1 -DiskPath C:\vms\u1.vhdx -GoldenPath C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx -Note '{}').made }
Try-It 'child' { $v = Get-VHD -Path C:\vms\u1.vhdx; @([string]$v.VhdType, [string]$v.ParentPath) }
Try-It 'read-only' { (Get-Item -LiteralPath C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx).IsReadOnly }
Try-It 'VM starts on the child' { Start-VM -VM $vm; [string](Get-VM -Name u1).State }
Try-It 'prune while the child runs' { & $T/golden-cache.ps1 -CacheDir C:\vms\cache -Remove C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx }
Stop-VM -VM $vm -TurnOff -Force
Try-It 'prune while the VM is off' { & $T/golden-cache.ps1 -CacheDir C:\vms\cache -Remove C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx }
Remove-VM -VM $vm -Force
Try-It 'prune once no VM has the child' { & $T/golden-cache.ps1 -CacheDir C:\vms\cache -Remove C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx }
Try-It 'gone' { @((Test-Path C:\vms\cache\ubuntu-golden-0123456789abcdef.vhdx), (Test-Path C:\vms\cache\ubuntu-golden-0123456789abcdef.json)) }
$r
`,
  );
  assert.equal(made.running.ok, false);
  assert.match(made.running.error, /VM 'u1' is Running, not Off/);
  assert.equal(made.off.ok, true, JSON.stringify(made.off));
  assert.equal(made.off.value.made, true);
  assert.deepEqual(made.again, { ok: true, value: false });
  assert.deepEqual(made.child.value, ['Differencing', 'C:\\vms\\cache\\ubuntu-golden-0123456789abcdef.vhdx']);
  assert.deepEqual(made['read-only'], { ok: true, value: true });
  assert.deepEqual(made['VM starts on the child'], { ok: true, value: 'Running' });
  const running = made['prune while the child runs'].value;
  assert.deepEqual(running.removed ?? [], []);
  assert.deepEqual(running.kept.map((k: any) => k.usedBy.map((u: any) => `${u.vm} ${u.state}`)), [['u1 Running']]);
  // a VM that is off still has the child attached: starting it needs the parent
  assert.deepEqual(made['prune while the VM is off'].value.kept.map((k: any) => k.usedBy.map((u: any) => u.vm)), [['u1']]);
  assert.deepEqual(made['prune once no VM has the child'].value.removed, ['C:\\vms\\cache\\ubuntu-golden-0123456789abcdef.vhdx']);
  assert.deepEqual(made.gone.value, [false, false]);
});
