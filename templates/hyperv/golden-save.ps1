# Keeps the disk of a generalized Ubuntu VM as the golden disk and puts the VM on a
# differencing disk over it. The VM must be off: a parent disk is only ever read once it has
# children ("the parent ... does not have the same ID as the child disk image" once it is
# written to: VM_E_PARENT_CHILD_ID_MISMATCH), so the disk is moved into the cache while no VM
# has it open, marked read-only there, and the VM gets a new disk at its old path.
# Idempotent: a run cut short (after the move, before the child) is finished by the next one.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$DiskPath,
  [Parameter(Mandatory = $true)][string]$GoldenPath,
  [Parameter(Mandatory = $true)][string]$Note
)
$ErrorActionPreference = 'Stop'
$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
if ([string]$vm.State -ne 'Off') { throw "VM '$VMName' is $($vm.State), not Off: its disk can only become the golden disk while nothing writes to it" }
$folder = Split-Path -Path $GoldenPath -Parent
if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
$partial = "$GoldenPath.partial"
$notePath = [System.IO.Path]::ChangeExtension($GoldenPath, '.json')
$made = $false
if (-not (Test-Path -LiteralPath $GoldenPath -PathType Leaf)) {
  if (Test-Path -LiteralPath $DiskPath -PathType Leaf) {
    $vhd = Get-VHD -Path $DiskPath
    if ([string]$vhd.VhdType -eq 'Differencing') { throw "$DiskPath is a differencing disk (over $($vhd.ParentPath)): only an installed disk of its own becomes a golden disk" }
    if (Test-Path -LiteralPath $partial) { throw "$partial is left from another run and $DiskPath exists too: remove one of them" }
    # a move within a volume is a rename; to another volume it is a copy, hence the temporary name
    Move-Item -LiteralPath $DiskPath -Destination $partial
  } elseif (-not (Test-Path -LiteralPath $partial -PathType Leaf)) {
    throw "neither $DiskPath nor $partial exists: nothing to keep as the golden disk"
  }
  Set-Content -LiteralPath $notePath -Value $Note -Encoding UTF8
  Move-Item -LiteralPath $partial -Destination $GoldenPath
  Set-ItemProperty -LiteralPath $GoldenPath -Name IsReadOnly -Value $true
  $made = $true
}
if (-not (Test-Path -LiteralPath $DiskPath -PathType Leaf)) {
  New-VHD -Path $DiskPath -ParentPath $GoldenPath -Differencing | Out-Null
}
$child = Get-VHD -Path $DiskPath
if ([string]$child.ParentPath -ne $GoldenPath) { throw "$DiskPath is not a differencing disk over $GoldenPath (its parent: '$($child.ParentPath)')" }
@{ made = $made; golden = $GoldenPath; child = $DiskPath }
