# Takes a checkpoint of a lab VM under a name labctl chose (Checkpoint-VM). The VM's own
# checkpoint type decides which kind: Production (the default: the guest's file systems are
# frozen through VSS or fsfreeze, no memory is kept) or Standard (memory too). A name the VM
# has already is refused: two checkpoints of one name could not be told apart.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$CheckpointName
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$existing = @(Get-VMSnapshot -VM $vm -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $CheckpointName })
if ($existing.Count -gt 0) { throw "VM '$VMName' has a checkpoint named '$CheckpointName' already" }
$snapshot = Checkpoint-VM -VM $vm -SnapshotName $CheckpointName -Passthru
@{
  id      = [string]$snapshot.Id
  name    = [string]$snapshot.Name
  created = $snapshot.CreationTime.ToUniversalTime().ToString('o')
  state   = [string](Get-VM -Id $vm.Id).State
}
