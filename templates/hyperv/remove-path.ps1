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
if ($Path -match '\.a?vhdx?$' -and (Get-Module -ListAvailable -Name 'Hyper-V')) {
  $users = @(Get-VM | ForEach-Object { $vm = $_; Get-VMHardDiskDrive -VM $vm | Where-Object { $_.Path -eq $Path } | ForEach-Object { $vm.Name } })
  if ($users.Count -gt 0) { throw "$Path is attached to VM $($users -join ', ')" }
}
if ($Recurse) { Remove-Item -LiteralPath $Path -Recurse -Force } else { Remove-Item -LiteralPath $Path -Force }
@{ removed = $true }
