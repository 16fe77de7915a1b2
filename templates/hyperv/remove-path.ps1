# Deletes a file or folder the lab created, only if it is inside the lab's folder; a disk
# still attached to a VM is named instead of deleted.
param(
  [Parameter(Mandatory = $true)][string]$Path,
  [Parameter(Mandatory = $true)][string]$LabRoot,
  [switch]$Recurse
)
$ErrorActionPreference = 'Stop'

$p = $LabRoot.TrimEnd('\').ToLowerInvariant()
$c = $Path.TrimEnd('\').ToLowerInvariant()
if (-not ($c -eq $p -or $c.StartsWith($p + '\'))) { throw "refusing to remove $Path`: it is not inside the lab's folder $LabRoot" }
if (-not (Test-Path -LiteralPath $Path)) { return @{ removed = $false } }
if (Get-Module -ListAvailable -Name 'Hyper-V') {
  # a disk (or, for a folder, anything inside it) that some VM still uses is named, not deleted
  $target = $Path.TrimEnd('\').ToLowerInvariant()
  $uses = {
    param([string]$File)
    $f = $File.ToLowerInvariant()
    if ($Recurse) { return $f -eq $target -or $f.StartsWith($target + '\') }
    return $f -eq $target
  }
  $users = @(Get-VM | Where-Object {
      $vm = $_
      ($Recurse -and (& $uses ([string]$vm.Path))) -or @(Get-VMHardDiskDrive -VM $vm | Where-Object { & $uses ([string]$_.Path) }).Count -gt 0
    } | ForEach-Object { $_.Name })
  if ($users.Count -gt 0) { throw "$Path is still used by VM $($users -join ', ')" }
}
if ($Recurse) { Remove-Item -LiteralPath $Path -Recurse -Force } else { Remove-Item -LiteralPath $Path -Force }
@{ removed = $true }
