# Removes one lab VM and the files it leaves: turns it off, deletes its checkpoints, then
# the VM, then its disks (with checkpoint .avhdx files) and discs, but only files inside
# the lab's folder. A VM of that name whose Notes lack the lab's mark is left alone.
param(
  [Parameter(Mandatory = $true)][string]$Name,
  [Parameter(Mandatory = $true)][string]$OwnerTag,
  [Parameter(Mandatory = $true)][string]$LabRoot
)
$ErrorActionPreference = 'Stop'

function Test-Inside([string]$Parent, [string]$Child) {
  $p = $Parent.TrimEnd('\').ToLowerInvariant()
  $c = $Child.ToLowerInvariant()
  return $c -eq $p -or $c.StartsWith($p + '\')
}

$found = @(Get-VM | Where-Object { $_.Name -eq $Name })
if ($found.Count -eq 0) { return @{ removed = $false; files = @(); failed = @() } }
$vm = $found | Where-Object { (([string]$_.Notes) -split "`r?`n")[0] -eq $OwnerTag } | Select-Object -First 1
if ($null -eq $vm) { throw "VM '$Name' exists but its notes lack '$OwnerTag': it is not the lab's, labctl left it alone" }

if ([string]$vm.State -eq 'Saved') { Remove-VMSavedState -VM $vm }
if ([string]$vm.State -ne 'Off') { Stop-VM -VM $vm -TurnOff -Force }

# checkpoints are merged away first so that the disks listed below are the real ones
$files = New-Object System.Collections.Generic.List[string]
foreach ($snapshot in @(Get-VMSnapshot -VM $vm)) {
  foreach ($d in @(Get-VMHardDiskDrive -VMSnapshot $snapshot)) { if ($d.Path) { $files.Add([string]$d.Path) } }
}
if (@(Get-VMSnapshot -VM $vm).Count -gt 0) {
  Get-VMSnapshot -VM $vm | Remove-VMSnapshot -IncludeAllChildSnapshots
  $deadline = (Get-Date).AddMinutes(10)
  while ((Get-VM -Id $vm.Id).Status -match 'merg' -and (Get-Date) -lt $deadline) { Start-Sleep -Seconds 2 }
}
foreach ($d in @(Get-VMHardDiskDrive -VM $vm)) { if ($d.Path) { $files.Add([string]$d.Path) } }
foreach ($d in @(Get-VMDvdDrive -VM $vm)) { if ($d.Path) { $files.Add([string]$d.Path) } }
$vmFolder = [string]$vm.Path

Remove-VM -VM $vm -Force

$removed = New-Object System.Collections.Generic.List[string]
$failed = New-Object System.Collections.Generic.List[object]
foreach ($file in ($files | Select-Object -Unique)) {
  if (-not (Test-Inside $LabRoot $file)) { continue }
  if (-not (Test-Path -LiteralPath $file)) { continue }
  try {
    Remove-Item -LiteralPath $file -Force
    $removed.Add($file)
  } catch {
    $failed.Add(@{ path = $file; reason = $_.Exception.Message })
  }
}
# Hyper-V's own files for the VM (configuration, saved state) live in its folder
if ($vmFolder -and (Test-Inside $LabRoot $vmFolder) -and ($vmFolder.TrimEnd('\') -ne $LabRoot.TrimEnd('\')) -and (Test-Path -LiteralPath $vmFolder)) {
  try {
    Remove-Item -LiteralPath $vmFolder -Recurse -Force
    $removed.Add($vmFolder)
  } catch {
    $failed.Add(@{ path = $vmFolder; reason = $_.Exception.Message })
  }
}
@{ removed = $true; files = $removed.ToArray(); failed = $failed.ToArray() }
