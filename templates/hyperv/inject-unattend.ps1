# Writes unattend.xml into the Windows volume of a VM's (not yet booted) disk, at
# \Windows\Panther\unattend.xml, where Windows Setup looks on the first boot of a
# generalized image.
param(
  [Parameter(Mandatory = $true)][string]$VhdPath,
  [Parameter(Mandatory = $true)][string]$UnattendPath
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $UnattendPath -PathType Leaf)) { throw "no such file: $UnattendPath" }
# an interrupted run may have left the disk mounted on the host, and Mount-VHD refuses a disk
# that is attached already: dismount it first (as build-windows-base.ps1 does)
$vhd = Get-VHD -Path $VhdPath
if ($vhd.Attached -and $null -ne $vhd.DiskNumber) { Dismount-VHD -Path $VhdPath }
$disk = Mount-VHD -Path $VhdPath -Passthru | Get-Disk
$written = $null
try {
  # Windows keeps a disk offline while another online disk has its disk signature (GPT: disk
  # GUID); differencing disks of one base share the base's, so the second one mounted at the
  # same time comes up offline. Bringing it online would give it a new signature, and its
  # Windows would no longer boot (its BCD names the old one): fail instead, naming the disk.
  if ($disk.IsOffline) {
    throw "disk $($disk.Number) ($VhdPath) came up offline ($($disk.OfflineReason)): another disk with the same disk signature is mounted on this host (a differencing disk of the same base?). labctl never brings it online (Windows would give it a new signature and its Windows would not boot): dismount the other disk (Get-Disk | Where-Object BusType -eq 'File Backed Virtual'; Dismount-VHD) and run again"
  }
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
