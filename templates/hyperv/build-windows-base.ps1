# Builds a bootable, generalized Windows base disk from an ISO's install.wim (or .esd):
# GPT with EFI, MSR and Windows partitions, the image applied with Expand-WindowsImage,
# boot files written with bcdboot. Built under a temporary name and renamed at the end, so
# an interrupted build never leaves a disk that looks finished. Kept in the image cache and
# shared by labs: teardown does not remove it.
param(
  [Parameter(Mandatory = $true)][string]$IsoPath,
  [Parameter(Mandatory = $true)][int]$ImageIndex,
  [Parameter(Mandatory = $true)][string]$DestinationPath,
  [Parameter(Mandatory = $true)][long]$SizeBytes
)
$ErrorActionPreference = 'Stop'

if (Test-Path -LiteralPath $DestinationPath -PathType Leaf) { return @{ built = $false; path = $DestinationPath } }
$folder = Split-Path -Path $DestinationPath -Parent
if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
$partial = [System.IO.Path]::ChangeExtension($DestinationPath, '.partial.vhdx')
if (Test-Path -LiteralPath $partial) {
  Dismount-VHD -Path $partial -ErrorAction SilentlyContinue
  Remove-Item -LiteralPath $partial -Force
}
$iso = Get-Item -LiteralPath $IsoPath

# an ISO the user has mounted stays mounted: this script dismounts only what it mounted
# (mounting it again would answer with the user's mount, and dismounting that pulls the
# drive from under them)
$isoWasAttached = [bool](Get-DiskImage -ImagePath $IsoPath).Attached
if (-not $isoWasAttached) { Mount-DiskImage -ImagePath $IsoPath -StorageType ISO | Out-Null }
$vhdMounted = $false
try {
  # Mount-DiskImage returns before Windows gives the disc's volume a drive letter: wait for it
  $isoLetter = $null
  $deadline = (Get-Date).AddSeconds(30)
  while ($true) {
    $isoLetter = (Get-DiskImage -ImagePath $IsoPath | Get-Volume).DriveLetter
    if ($isoLetter) { break }
    if ((Get-Date) -gt $deadline) { throw "$IsoPath is mounted but its volume got no drive letter within 30 s (a disc mounted without one, or automount off: mountvol /E)" }
    Start-Sleep -Milliseconds 250
  }
  $wim = @('install.wim', 'install.esd') | ForEach-Object { '{0}:\sources\{1}' -f $isoLetter, $_ } | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
  if (-not $wim) { throw "$IsoPath has no sources\install.wim or install.esd: is it a Windows Server ISO?" }
  $images = @(Get-WindowsImage -ImagePath $wim)
  if (-not ($images | Where-Object { $_.ImageIndex -eq $ImageIndex })) {
    $list = ($images | ForEach-Object { '{0} = {1}' -f $_.ImageIndex, $_.ImageName }) -join '; '
    throw "image index $ImageIndex is not in ${wim}: $list (set hyperv.windowsImageIndex)"
  }

  New-VHD -Path $partial -SizeBytes $SizeBytes -Dynamic | Out-Null
  $disk = Mount-VHD -Path $partial -Passthru | Get-Disk
  $vhdMounted = $true
  Initialize-Disk -Number $disk.Number -PartitionStyle GPT
  # the EFI partition is made as a basic data partition, formatted and given a letter for
  # bcdboot, and only then typed as EFI: Format-Volume cannot reach a partition that is already EFI
  $system = New-Partition -DiskNumber $disk.Number -Size 260MB -GptType '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}'
  Format-Volume -Partition $system -FileSystem FAT32 -NewFileSystemLabel 'System' -Force -Confirm:$false | Out-Null
  Add-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $system.PartitionNumber -AssignDriveLetter
  New-Partition -DiskNumber $disk.Number -Size 16MB -GptType '{e3c9e316-0b5c-4db8-817d-f92df00215ae}' | Out-Null
  $windows = New-Partition -DiskNumber $disk.Number -UseMaximumSize -GptType '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}'
  Format-Volume -Partition $windows -FileSystem NTFS -NewFileSystemLabel 'Windows' -Force -Confirm:$false | Out-Null
  Add-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $windows.PartitionNumber -AssignDriveLetter
  $systemLetter = (Get-Partition -DiskNumber $disk.Number -PartitionNumber $system.PartitionNumber).DriveLetter
  $windowsLetter = (Get-Partition -DiskNumber $disk.Number -PartitionNumber $windows.PartitionNumber).DriveLetter

  Expand-WindowsImage -ImagePath $wim -Index $ImageIndex -ApplyPath ('{0}:\' -f $windowsLetter) | Out-Null

  # bcdboot writes to stderr on success too; Windows PowerShell turns that into an error
  # under 'Stop', so its exit code is what decides
  $ErrorActionPreference = 'Continue'
  $bcdOutput = & bcdboot.exe ('{0}:\Windows' -f $windowsLetter) /s ('{0}:' -f $systemLetter) /f UEFI 2>&1 | Out-String
  $bcdExit = $LASTEXITCODE
  $ErrorActionPreference = 'Stop'
  if ($bcdExit -ne 0) { throw "bcdboot failed ($bcdExit): $bcdOutput" }

  Remove-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $system.PartitionNumber -AccessPath ('{0}:\' -f $systemLetter)
  Set-Partition -DiskNumber $disk.Number -PartitionNumber $system.PartitionNumber -GptType '{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}'
} finally {
  if ($vhdMounted) { Dismount-VHD -Path $partial }
  if (-not $isoWasAttached) { Dismount-DiskImage -ImagePath $IsoPath | Out-Null }
}

Move-Item -LiteralPath $partial -Destination $DestinationPath
$note = @{ isoPath = $IsoPath; isoLength = [long]$iso.Length; isoLastWriteUtc = $iso.LastWriteTimeUtc.ToString('o'); imageIndex = $ImageIndex; builtUtc = (Get-Date).ToUniversalTime().ToString('o') }
Set-Content -LiteralPath "$DestinationPath.json" -Value (ConvertTo-Json -InputObject $note -Compress) -Encoding UTF8
@{ built = $true; path = $DestinationPath }
