# Removes a named checkpoint of a lab VM (Remove-VMSnapshot; Remove-VMCheckpoint is its alias).
# Hyper-V merges the checkpoint's .avhdx files back into the disks in the background.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$CheckpointName
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$found = @(Get-VMSnapshot -VM $vm -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $CheckpointName })
if ($found.Count -gt 0) { Remove-VMSnapshot -VMSnapshot $found -Confirm:$false }
@{ removed = $found.Count }
