# Creates a VM's system disk and attaches it: a new dynamic VHDX of SizeBytes, or, with
# ParentPath, a differencing disk over a base image (the base is only ever read).
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$Path,
  [long]$SizeBytes = 0,
  [string]$ParentPath = ''
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$created = $false
if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
  $folder = Split-Path -Path $Path -Parent
  if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
  if ($ParentPath) {
    New-VHD -Path $Path -ParentPath $ParentPath -Differencing | Out-Null
  } elseif ($SizeBytes -gt 0) {
    New-VHD -Path $Path -SizeBytes $SizeBytes -Dynamic | Out-Null
  } else {
    throw 'give SizeBytes for a new disk or ParentPath for a differencing disk'
  }
  $created = $true
}
$attached = @(Get-VMHardDiskDrive -VM $vm | Where-Object { $_.Path -eq $Path })
if ($attached.Count -eq 0) { Add-VMHardDiskDrive -VM $vm -Path $Path }
@{ created = $created; attached = ($attached.Count -eq 0) }
