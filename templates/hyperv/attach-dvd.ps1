# Puts a disc in a VM: adds a DVD drive holding Path. With CopyFrom, Path is first written
# as a copy of that file (the NoCloud seed goes into the VM's own folder this way).
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$Path,
  [string]$CopyFrom = ''
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
if ($CopyFrom) {
  Copy-Item -LiteralPath $CopyFrom -Destination $Path -Force
} elseif (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
  throw "no such file: $Path"
}
$drive = @(Get-VMDvdDrive -VM $vm | Where-Object { $_.Path -eq $Path }) | Select-Object -First 1
$added = $false
if ($null -eq $drive) {
  Add-VMDvdDrive -VM $vm -Path $Path
  $added = $true
  $drive = @(Get-VMDvdDrive -VM $vm | Where-Object { $_.Path -eq $Path }) | Select-Object -First 1
}
@{ added = $added; controller = [int]$drive.ControllerNumber; location = [int]$drive.ControllerLocation }
