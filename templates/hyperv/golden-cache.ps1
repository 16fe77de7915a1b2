# The Ubuntu golden disks in the image cache (ubuntu-golden-<key>.vhdx, each with a .json note
# of what made it), with the VMs that use each one: a VM whose disk's chain of parents
# (Get-VHD ParentPath) reaches it. With Remove, the named golden disks are deleted unless a VM
# uses one: a child reads its parent's blocks, and without the parent its chain is broken.
param(
  [Parameter(Mandatory = $true)][string]$CacheDir,
  [string[]]$Remove = @()
)
$ErrorActionPreference = 'Stop'

function Get-Chain([string]$Path) {
  $out = @()
  for ($i = 0; $i -lt 32 -and $Path; $i++) {
    $out += $Path
    $vhd = Get-VHD -Path $Path -ErrorAction SilentlyContinue
    if ($null -eq $vhd) { break }
    $Path = [string]$vhd.ParentPath
  }
  return , $out
}

# every VM's disks and their parents, once
$uses = @()
foreach ($vm in @(Get-VM)) {
  foreach ($drive in @(Get-VMHardDiskDrive -VM $vm)) {
    if (-not $drive.Path) { continue }
    foreach ($p in (Get-Chain ([string]$drive.Path))) { $uses += @{ path = $p; vm = [string]$vm.Name; state = [string]$vm.State; disk = [string]$drive.Path } }
  }
}

# NTFS paths compare without case; a path written with / is the same file
function ConvertTo-Key([string]$Path) { ($Path -replace '/', '\').ToLowerInvariant() }

function Get-Users([string]$Golden) {
  $key = ConvertTo-Key $Golden
  return , @($uses | Where-Object { (ConvertTo-Key $_.path) -eq $key } | ForEach-Object { @{ vm = $_.vm; state = $_.state; disk = $_.disk } })
}

$removed = @()
$kept = @()
foreach ($path in $Remove) {
  $users = Get-Users $path
  if ($users.Count -gt 0) { $kept += @{ path = $path; usedBy = $users }; continue }
  if (Test-Path -LiteralPath $path -PathType Leaf) {
    Set-ItemProperty -LiteralPath $path -Name IsReadOnly -Value $false
    Remove-Item -LiteralPath $path -Force
  }
  $note = [System.IO.Path]::ChangeExtension($path, '.json')
  if (Test-Path -LiteralPath $note -PathType Leaf) { Remove-Item -LiteralPath $note -Force }
  $removed += $path
}

$entries = @()
if (Test-Path -LiteralPath $CacheDir -PathType Container) {
  foreach ($f in @(Get-ChildItem -LiteralPath $CacheDir -Filter 'ubuntu-golden-*.vhdx' -File)) {
    # the path as labs name it (Hyper-V compares a child's ParentPath as written)
    $path = $CacheDir.TrimEnd('\') + '\' + $f.Name
    $notePath = [System.IO.Path]::ChangeExtension($path, '.json')
    $note = $null
    if (Test-Path -LiteralPath $notePath -PathType Leaf) { $note = Get-Content -LiteralPath $notePath -Raw }
    $entries += @{
      path = $path
      bytes = [long]$f.Length
      readOnly = [bool]$f.IsReadOnly
      created = $f.CreationTimeUtc.ToString('o')
      lastWrite = $f.LastWriteTimeUtc.ToString('o')
      note = $note
      usedBy = (Get-Users $path)
    }
  }
}
@{ entries = $entries; removed = $removed; kept = $kept }
