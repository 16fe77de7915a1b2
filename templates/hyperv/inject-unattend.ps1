# Writes unattend.xml into the Windows volume of a VM's (not yet booted) disk, at
# \Windows\Panther\unattend.xml, where Windows Setup looks on the first boot of a
# generalized image.
param(
  [Parameter(Mandatory = $true)][string]$VhdPath,
  [Parameter(Mandatory = $true)][string]$UnattendPath
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $UnattendPath -PathType Leaf)) { throw "no such file: $UnattendPath" }
$disk = Mount-VHD -Path $VhdPath -Passthru | Get-Disk
$written = $null
try {
  foreach ($partition in @(Get-Partition -DiskNumber $disk.Number | Where-Object { $_.Type -eq 'Basic' })) {
    if (-not $partition.DriveLetter -or $partition.DriveLetter -eq [char]0) {
      Add-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $partition.PartitionNumber -AssignDriveLetter
      $partition = Get-Partition -DiskNumber $disk.Number -PartitionNumber $partition.PartitionNumber
    }
    $root = '{0}:\' -f $partition.DriveLetter
    if (Test-Path -LiteralPath (Join-Path -Path $root -ChildPath 'Windows\System32') -PathType Container) {
      $panther = Join-Path -Path $root -ChildPath 'Windows\Panther'
      if (-not (Test-Path -LiteralPath $panther)) { New-Item -ItemType Directory -Path $panther -Force | Out-Null }
      $target = Join-Path -Path $panther -ChildPath 'unattend.xml'
      Copy-Item -LiteralPath $UnattendPath -Destination $target -Force
      $written = $target
      break
    }
  }
} finally {
  Dismount-VHD -Path $VhdPath
}
if (-not $written) { throw "no Windows volume found on $VhdPath (is the base image a Windows installation?)" }
@{ written = $written }
