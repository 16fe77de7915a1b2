# Applies a named checkpoint to a lab VM (Restore-VMSnapshot; Restore-VMCheckpoint is its
# alias). What the VM runs now is discarded by the restore anyway, so a VM that is not off is
# turned off first (Stop-VM -TurnOff: no shutdown to wait for). Afterwards the VM is off (a
# production checkpoint) or saved in the moment of the checkpoint (a standard one); labctl
# starts it.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$CheckpointName
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$found = @(Get-VMSnapshot -VM $vm -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $CheckpointName })
if ($found.Count -eq 0) { throw "VM '$VMName' has no checkpoint named '$CheckpointName'" }
if ($found.Count -gt 1) { throw "VM '$VMName' has $($found.Count) checkpoints named '$CheckpointName': remove the extra ones in Hyper-V Manager" }
$before = [string]$vm.State
if ($before -ne 'Off' -and $before -ne 'Saved') { Stop-VM -VM $vm -TurnOff -Force }
Restore-VMSnapshot -VMSnapshot $found[0] -Confirm:$false
@{ before = $before; state = [string](Get-VM -Id $vm.Id).State }
