# The simulated Hyper-V host, part 3: virtual disks and what the host does with them.
# New-VHD, Mount-VHD, Dismount-VHD, Get-VHD; the Storage module (Get-Disk, Initialize-Disk,
# Set-Disk, partitions, access paths, Format-Volume, Get-Volume); ISO images (Mount-,
# Dismount-, Get-DiskImage); DISM (Get-WindowsImage, Expand-WindowsImage); bcdboot.exe; and
# Remove-Item of a disk or ISO file that something holds open.
#
# A .vhdx is a small real file "LABCTL-SIM-VHDX <id>" naming its disk in state.json; the
# files inside partition n of a disk are in disks/<id>/<n>/ (a differencing disk starts as a
# copy of its parent's partitions). Sources for the rules, cited where each is enforced:
#   [vds-offline]  Microsoft Learn, VDS_DISK_OFFLINE_REASON (vds.h): VDSDiskOfflineReasonCollision,
#                  "offline because its disk signature is the same as that of another disk that is online"
#                  (GPT: "its disk identifier is the same as that of another disk")
#                  https://learn.microsoft.com/windows/win32/api/vds/ne-vds-vds_disk_offline_reason
#   [collision]    Mark Russinovich, "Fixing Disk Signature Collisions" (Microsoft Tech Community,
#                  Windows blog, 2011): attaching a clone next to the original takes the clone
#                  offline; bringing it online gives it a new signature, which "renders
#                  unbootable" its Windows (the BCD store names the old one)
#   [iso-letter]   Mount-DiskImage returns before Windows gives the volume its drive letter:
#                  ChrisTitusTech/winutil#4172 ("Windows assigns the drive letter asynchronously.
#                  Get-Volume was called too early, returning an empty DriveLetter")
#   [iso-twice]    PowerShell/PowerShell#15249: Mount-DiskImage of an image that is already
#                  mounted returns the first mount, so a script that dismounts "its" mount
#                  dismounts the user's
#   [mount-vhd]    Microsoft Learn, Mount-VHD (windows-powershell-docs docset/winserver2025-ps/Hyper-V/Mount-VHD.md)
#   [vhd-parent]   Microsoft Learn, IVMHardDisk::Parent (win32 vpc/ivmharddisk-parent): VM_E_PARENT_CHILD_ID_MISMATCH,
#                  "The virtual hard disk image located by the parent parameter does not have the same ID as the child
#                  disk image"; Msvm_ImageManagementService.SetParentVirtualHardDisk (hyperv_v2), IgnoreIDMismatch: "if
#                  the new parent virtual hard disk is not identical to the original parent, data corruption can
#                  occur". A parent written to (a VM running on it, a mount for writing) after a child was made over it
#                  no longer matches the child.

# ---------------------------------------------------------------------------------------
# disks: lookups and CIM objects
# ---------------------------------------------------------------------------------------

function Get-SimHostMountedDisks([hashtable]$S) { @($S.disks | Where-Object { $null -ne $_ -and $null -ne $_.mounted }) }

function Find-SimHostDiskByNumber([hashtable]$S, [int]$Number) {
  @(Get-SimHostMountedDisks $S | Where-Object { [int]$_.mounted.number -eq $Number }) | Select-Object -First 1
}

<# The letters in use on the host: C, the host's other volumes, mounted disks and ISOs. #>
function Get-SimHostUsedLetters([hashtable]$S) {
  $used = New-Object System.Collections.Generic.HashSet[string]
  [void]$used.Add('C')
  foreach ($v in @($S.host.volumes)) { if ($null -ne $v -and $v.letter) { [void]$used.Add(([string]$v.letter).ToUpperInvariant()) } }
  if ($null -ne $S.host.drives) { foreach ($k in $S.host.drives.Keys) { [void]$used.Add(([string]$k).ToUpperInvariant()) } }
  foreach ($d in (Get-SimHostMountedDisks $S)) { foreach ($p in @($d.partitions)) { if ($null -ne $p -and $p.letter) { [void]$used.Add([string]$p.letter) } } }
  foreach ($i in @($S.images)) { if ($null -ne $i -and $i.letter) { [void]$used.Add([string]$i.letter) } }
  return $used
}

function Get-SimHostFreeLetter([hashtable]$S) {
  $used = Get-SimHostUsedLetters $S
  foreach ($l in [char[]]'DEFGHIJKLMNOPQRSTUVWXYZ') { if (-not $used.Contains([string]$l)) { return [string]$l } }
  Stop-Sim 'no drive letter is free' 'LimitsExceeded'
}

function Set-SimHostLetter([hashtable]$S, [hashtable]$Disk, [hashtable]$Partition, [string]$Letter) {
  if (-not $S.host.drives) { $S.host.drives = @{} }
  if ($Partition.letter) { $S.host.drives.Remove([string]$Partition.letter) }
  $Partition.letter = $Letter
  if ($Letter) { $S.host.drives[$Letter] = Get-SimPartitionRoot $Disk.id ([int]$Partition.number) }
}

function Get-SimHostPartitionType([string]$GptType) {
  switch (([string]$GptType).Trim('{}').ToLowerInvariant()) {
    'c12a7328-f81f-11d2-ba4b-00a0c93ec93b' { return 'System' }
    'e3c9e316-0b5c-4db8-817d-f92df00215ae' { return 'Reserved' }
    'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7' { return 'Basic' }
    'de94bba4-06d1-4d40-a16a-bfd50179d6ac' { return 'Recovery' }
    default { return 'Unknown' }
  }
}

function ConvertTo-SimHostDiskObject([hashtable]$S, [hashtable]$Disk) {
  $m = $Disk.mounted
  $sig = Get-SimHostSignature $S $Disk
  New-SimCim 'MSFT_Disk' ([ordered]@{
      Number             = [uint32]$m.number
      FriendlyName       = 'Msft Virtual Disk'
      SerialNumber       = ''
      UniqueId           = "60022480$(($Disk.id -replace '-', '').Substring(0, 24).ToUpperInvariant())"
      Path               = "\\?\scsi#disk&ven_msft&prod_virtual_disk#2&1f4adffe&0&00000$($m.number)#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
      Location           = [string]$Disk.path
      BusType            = 'File Backed Virtual'
      PartitionStyle     = [string]$Disk.partitionStyle
      IsOffline          = [bool]$m.offline
      OfflineReason      = $(if ($m.offline) { [string]$m.reason } else { $null })
      OperationalStatus  = $(if ($m.offline) { 'Offline' } else { 'Online' })
      HealthStatus       = 'Healthy'
      IsReadOnly         = [bool]$m.readOnly
      IsSystem           = $false
      IsBoot             = $false
      Size               = [uint64]$Disk.sizeBytes
      AllocatedSize      = [uint64]0
      Guid               = $(if ($Disk.partitionStyle -eq 'GPT' -and $sig) { "{$sig}" } else { $null })
      Signature          = $null
      NumberOfPartitions = [uint32]@($Disk.partitions | Where-Object { $_ }).Count
    })
}

function ConvertTo-SimHostPartitionObject([hashtable]$S, [hashtable]$Disk, [hashtable]$P) {
  $letter = [char]0
  $paths = @()
  if ($P.letter -and -not $Disk.mounted.offline) { $letter = [char]([string]$P.letter); $paths += "$($P.letter):\" }
  $guid = $(if ($P.guid) { [string]$P.guid } else { '' })
  $paths += "\\?\Volume{$guid}\"
  New-SimCim 'MSFT_Partition' ([ordered]@{
      DiskNumber      = [uint32]$Disk.mounted.number
      PartitionNumber = [uint32]$P.number
      DriveLetter     = $letter
      AccessPaths     = [string[]]$paths
      Offset          = [uint64]$P.offset
      Size            = [uint64]$P.size
      Type            = Get-SimHostPartitionType $P.gptType
      GptType         = [string]$P.gptType
      Guid            = "{$guid}"
      IsOffline       = [bool]$Disk.mounted.offline
      IsReadOnly      = [bool]$Disk.mounted.readOnly
      IsSystem        = ((Get-SimHostPartitionType $P.gptType) -eq 'System')
      IsBoot          = $false
      IsHidden        = $false
      DiskId          = "\\?\scsi#disk&ven_msft&prod_virtual_disk#2&1f4adffe&0&00000$($Disk.mounted.number)#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
      UniqueId        = "{00000000-0000-0000-0000-000000000000}$($Disk.id)-$($P.number)"
      ObjectId        = "partition:$($Disk.id):$($P.number)"
    })
}

function ConvertTo-SimHostVolumeObject([hashtable]$S, [hashtable]$Disk, [hashtable]$P) {
  $letter = $null
  if ($P.letter -and -not $Disk.mounted.offline) { $letter = [char]([string]$P.letter) }
  $root = Get-SimPartitionRoot $Disk.id ([int]$P.number)
  New-SimCim 'MSFT_Volume' ([ordered]@{
      DriveLetter       = $letter
      FileSystemLabel   = [string]$P.label
      FileSystem        = [string]$P.fileSystem
      FileSystemType    = [string]$P.fileSystem
      DriveType         = 'Fixed'
      HealthStatus      = 'Healthy'
      OperationalStatus = 'OK'
      Size              = [uint64]$P.size
      SizeRemaining     = [uint64]([Math]::Max([long]0, [long]$P.size - (Get-SimHostFolderSize $root)))
      Path              = "\\?\Volume{$($P.guid)}\"
      UniqueId          = "\\?\Volume{$($P.guid)}\"
      ObjectId          = "volume:$($Disk.id):$($P.number)"
    })
}

function Get-SimHostFolderSize([string]$Dir) {
  if (-not [System.IO.Directory]::Exists($Dir)) { return 0 }
  $sum = 0
  foreach ($f in [System.IO.Directory]::EnumerateFiles($Dir, '*', [System.IO.SearchOption]::AllDirectories)) { $sum += (New-Object System.IO.FileInfo -ArgumentList $f).Length }
  return $sum
}

function ConvertTo-SimHostVhdObject([hashtable]$S, [hashtable]$Disk) {
  $o = [Microsoft.Vhd.PowerShell.VirtualHardDisk]::new()
  $o.ComputerName = [string]$S.host.computerName
  $o.Path = [string]$Disk.path
  $o.VhdFormat = $(if (([string]$Disk.path).ToLowerInvariant().EndsWith('.vhd')) { 'VHD' } else { 'VHDX' })
  $o.VhdType = [string]$Disk.type
  $o.Size = [uint64]$Disk.sizeBytes
  $o.FileSize = [uint64]4MB
  $parent = Get-SimHostDiskById $S $Disk.parentId
  if ($null -ne $parent) { $o.ParentPath = [string]$parent.path }
  $o.DiskIdentifier = ([string]$Disk.id).ToUpperInvariant()
  $o.Attached = $null -ne $Disk.mounted
  if ($null -ne $Disk.mounted) { $o.DiskNumber = [uint32]$Disk.mounted.number; $o.Number = [uint32]$Disk.mounted.number }
  return $o
}

<# The disk a call names by -Number / -DiskNumber / -InputObject / a pipeline object; fails when not there. #>
function Resolve-SimHostDisk($c, [string[]]$Params = @('Number', 'DiskNumber')) {
  $S = $c.S
  foreach ($p in $Params) {
    if ($c.P.ContainsKey($p)) {
      $n = [int](@($c.P[$p])[0])
      $d = Find-SimHostDiskByNumber $S $n
      if ($null -eq $d) { Stop-Sim "No MSFT_Disk objects found with property 'Number' equal to '$n'. Verify the value of the property and retry." 'ObjectNotFound' $n 'CmdletizationQuery_NotFound_Number' }
      return $d
    }
  }
  foreach ($p in @('InputObject', 'Disk')) {
    if ($c.P.ContainsKey($p)) { return Resolve-SimHostDisk @{ S = $S; P = @{ Number = @($c.P[$p])[0].Number } } }
  }
  Stop-Sim 'no disk given' 'InvalidArgument'
}

function Resolve-SimHostPartition($c) {
  $S = $c.S
  if ($c.P.ContainsKey('InputObject') -or $c.P.ContainsKey('Partition')) {
    $o = @($(if ($c.P.ContainsKey('Partition')) { $c.P.Partition } else { $c.P.InputObject }))[0]
    $disk = Find-SimHostDiskByNumber $S ([int]$o.DiskNumber)
    $n = [int]$o.PartitionNumber
  } elseif ($c.P.ContainsKey('DriveLetter')) {
    $l = ([string](@($c.P.DriveLetter)[0])).ToUpperInvariant()
    foreach ($d in (Get-SimHostMountedDisks $S)) { foreach ($p in @($d.partitions)) { if ($null -ne $p -and [string]$p.letter -eq $l) { return $d, $p } } }
    Stop-Sim "No MSFT_Partition objects found with property 'DriveLetter' equal to '$l'." 'ObjectNotFound' $l
  } else {
    $disk = Resolve-SimHostDisk $c
    $n = [int](Get-SimHostFirst $c.P.PartitionNumber)
  }
  if ($null -eq $disk) { Stop-Sim 'the disk of that partition is no longer attached' 'ObjectNotFound' }
  $part = @($disk.partitions | Where-Object { $null -ne $_ -and [int]$_.number -eq $n }) | Select-Object -First 1
  if ($null -eq $part) { Stop-Sim "No MSFT_Partition objects found with property 'PartitionNumber' equal to '$n' on disk $($disk.mounted.number)." 'ObjectNotFound' $n }
  return $disk, $part
}

function Assert-SimHostDiskOnline([hashtable]$Disk, [string]$What) {
  if ($Disk.mounted.offline) {
    Stop-Sim "${What}: disk $($Disk.mounted.number) ($($Disk.path)) is offline ($($Disk.mounted.reason)). The disk must be online." 'InvalidOperation' $Disk.path 'DiskOffline'
  }
  if ($Disk.mounted.readOnly) { Stop-Sim "${What}: disk $($Disk.mounted.number) ($($Disk.path)) is read-only." 'PermissionDenied' $Disk.path 'DiskReadOnly' }
}

# ---------------------------------------------------------------------------------------
# New-VHD, Mount-VHD, Dismount-VHD, Get-VHD
# ---------------------------------------------------------------------------------------

Register-SimCmdlet 'New-VHD' {
  param($c)
  $S = $c.S
  $path = [string]$c.P.Path
  $local = Get-SimHostLocalPath $S $path
  if ($null -eq $local) { Stop-Sim "Failed to create the virtual hard disk. The system cannot find the path specified: '$path'." 'ObjectNotFound' $path }
  if ([System.IO.File]::Exists($local)) { Stop-Sim "Failed to create the virtual hard disk. The file exists: '$path'." 'ResourceExists' $path 'FileExists' }
  if (-not [System.IO.Directory]::Exists((Split-Path -Path $local -Parent))) { Stop-Sim "Failed to create the virtual hard disk. The system cannot find the path specified: '$path'." 'ObjectNotFound' $path }
  $id = New-SimId
  if ($c.P.ContainsKey('ParentPath')) {
    $parent = Get-SimHostDisk $S ([string]$c.P.ParentPath)
    if ($null -eq $parent) { Stop-Sim "Failed to create the virtual hard disk. The parent '$($c.P.ParentPath)' does not exist or is not a virtual hard disk." 'ObjectNotFound' $c.P.ParentPath }
    # the child remembers the parent as it is now [vhd-parent]: writing to the parent later breaks it
    $disk = @{ id = $id; path = $path; type = 'Differencing'; sizeBytes = [long]$parent.sizeBytes; parentId = $parent.id; parentWriteId = [string]$parent.writeId; signature = $null; partitionStyle = $parent.partitionStyle; partitions = @(); mounted = $null; os = $parent.os }
    # a differencing disk reads its parent's blocks: it starts with the parent's partitions
    # and files (and, having no signature of its own, the parent's disk signature)
    $parts = @()
    foreach ($p in @($parent.partitions)) {
      if ($null -eq $p) { continue }
      $copy = @{}; foreach ($k in $p.Keys) { $copy[$k] = $p[$k] }
      $copy.letter = $null
      $parts += $copy
      $src = Get-SimPartitionRoot $parent.id ([int]$p.number)
      $dst = Get-SimPartitionRoot $id ([int]$p.number)
      Copy-Item -Path (Join-Path -Path $src -ChildPath '*') -Destination $dst -Recurse -Force
    }
    $disk.partitions = $parts
  } else {
    if (-not $c.P.ContainsKey('SizeBytes')) { Stop-Sim 'New-VHD needs -SizeBytes' 'InvalidArgument' }
    $size = [long]$c.P.SizeBytes
    if ($size -lt 3MB) { Stop-Sim "Failed to create the virtual hard disk: the size $size is too small." 'InvalidArgument' $size }
    $type = $(if ($c.P.Fixed) { 'Fixed' } else { 'Dynamic' })
    $disk = @{ id = $id; path = $path; type = $type; sizeBytes = $size; parentId = $null; signature = $null; partitionStyle = 'RAW'; partitions = @(); mounted = $null }
  }
  [System.IO.File]::WriteAllText($local, "LABCTL-SIM-VHDX $id`n")
  Add-SimHostItem $S 'disks' $disk
  ConvertTo-SimHostVhdObject $S $disk
}

<#
  Why a VM cannot open this disk (its leaf) and the chain of parents below it, or '': the leaf
  file marked read-only (Hyper-V opens a VM's disk for writing: "Access is denied", modelled
  strictly; parents are opened read-only, so a read-only parent is what golden disks should be),
  a parent file that is gone, or a parent written to since the child was made [vhd-parent].
#>
function Test-SimHostChain([hashtable]$S, [hashtable]$Leaf, [string]$LeafPath) {
  $local = Get-SimHostLocalPath $S $LeafPath
  if ($local -and [System.IO.File]::Exists($local) -and (Get-Item -LiteralPath $local).IsReadOnly) {
    return "Failed to open attachment '$LeafPath'. Error: 'Access is denied.' (the file is read-only: a VM writes to its own disk)"
  }
  $d = $Leaf
  for ($i = 0; $i -lt 32 -and $null -ne $d -and $d.parentId; $i++) {
    $parent = Get-SimHostDiskById $S $d.parentId
    $file = $(if ($null -ne $parent) { Get-SimHostLocalPath $S ([string]$parent.path) })
    if ($null -eq $parent -or -not $file -or -not [System.IO.File]::Exists($file) -or (Get-SimHostFileKind $S ([string]$parent.path)).diskId -ne $parent.id) {
      $where = $(if ($null -ne $parent) { $parent.path } else { 'its parent' })
      return "The chain of virtual hard disks is broken. The system cannot find the differencing disk's parent '$where'."
    }
    if ($d.ContainsKey('parentWriteId') -and [string]$d.parentWriteId -ne [string]$parent.writeId) {
      return "The chain of virtual hard disks is corrupted. There is a mismatch in the identifiers of the parent virtual hard disk and differencing disk ('$($parent.path)' was written to after '$($d.path)' was made over it)."
    }
    $d = $parent
  }
  return ''
}

Register-SimCmdlet 'Get-VHD' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('DiskNumber')) {
    $d = Find-SimHostDiskByNumber $S ([int](Get-SimHostFirst $c.P.DiskNumber))
    if ($null -eq $d) { & $c.Error "no virtual hard disk is attached as disk $($c.P.DiskNumber)" 'ObjectNotFound' $c.P.DiskNumber; return }
    return ConvertTo-SimHostVhdObject $S $d
  }
  foreach ($p in @($c.P.Path)) {
    $d = Get-SimHostDisk $S ([string]$p)
    if ($null -eq $d) { & $c.Error "Getting the mounted storage instance for the path '$p' failed. The system cannot find the file specified." 'ObjectNotFound' $p; continue }
    ConvertTo-SimHostVhdObject $S $d
  }
}

<#
  Attaches a disk to the host. Windows brings a new disk online unless its signature (GPT:
  disk GUID) is the same as that of a disk already online [vds-offline]: differencing disks
  of one parent have the parent's, so the second of two mounted at once stays offline
  ([collision]). Volumes of an online disk get drive letters (automount) unless -NoDriveLetter.
#>
function Mount-SimHostVhd($c, [hashtable]$S) {
  foreach ($path in @($c.P.Path)) {
    $k = Get-SimHostFileKind $S ([string]$path)
    if ($k.kind -eq 'missing') { Stop-Sim "Mount-VHD: the system cannot find the file specified: '$path'." 'ObjectNotFound' $path 'ObjectNotFound' }
    if ($k.kind -ne 'vhdx') { Stop-Sim "Mount-VHD: '$path' is not a virtual hard disk file." 'InvalidArgument' $path }
    $disk = Get-SimHostDiskById $S $k.diskId
    # a disk open elsewhere: mounted already [mount-vhd: mounting twice], or attached to a VM that runs
    $why = Get-SimHostInUse $S ([string]$path)
    if ($why) { Stop-Sim "Failed to mount the virtual disk. $(Get-SimHostSharingMessage $path) ($why)" 'ResourceBusy' $path 'ObjectInUse' }
    $numbers = @(Get-SimHostMountedDisks $S | ForEach-Object { [int]$_.mounted.number })
    $n = 1
    while ($numbers -contains $n) { $n++ }
    $sig = Get-SimHostSignature $S $disk
    $clash = $null
    if ($sig) { $clash = @(Get-SimHostMountedDisks $S | Where-Object { -not $_.mounted.offline -and (Get-SimHostSignature $S $_) -eq $sig }) | Select-Object -First 1 }
    # mounted for writing: what it was is gone for the children made over it [vhd-parent]
    if (-not $c.P.ReadOnly) { $disk.writeId = New-SimId }
    $disk.mounted = @{ number = $n; offline = ($null -ne $clash); reason = $(if ($null -ne $clash) { 'Collision' } else { '' }); readOnly = [bool]$c.P.ReadOnly; collidesWith = $(if ($null -ne $clash) { $clash.path } else { '' }) }
    if (-not $disk.mounted.offline -and -not $c.P.NoDriveLetter) {
      foreach ($p in @($disk.partitions)) {
        if ($null -eq $p -or -not $p.fileSystem -or (Get-SimHostPartitionType $p.gptType) -ne 'Basic') { continue }
        Set-SimHostLetter $S $disk $p (Get-SimHostFreeLetter $S)
      }
    }
    if ($c.P.Passthru) { ConvertTo-SimHostVhdObject $S $disk }
  }
}

<#
  Attaches a disk to the host. Windows brings a new disk online unless its signature (GPT:
  disk GUID) is the same as that of a disk already online [vds-offline]: differencing disks
  of one parent have the parent's, so the second of two mounted at once stays offline
  ([collision]). Volumes of an online disk get drive letters (automount) unless -NoDriveLetter.

  config.timing.mountSeconds (tests): after mounting, the call returns only once that many
  seconds have passed or another disk has been mounted beside this one, without holding the
  simulator's lock: two scripts that mount at the same time then overlap for sure, as they
  would on a host where mounting takes its time.
#>
Register-SimCmdlet 'Mount-VHD' -Unlocked {
  param($c)
  $out = Use-SimState { param($S) , @(Mount-SimHostVhd $c $S) }
  $hold = Use-SimState { param($S) Get-SimHostTiming $S 'mountSeconds' 0 }
  if ($hold -gt 0) {
    $mine = @($c.P.Path | ForEach-Object { [string]$_ })
    $until = [DateTime]::UtcNow.AddSeconds($hold)
    while ([DateTime]::UtcNow -lt $until) {
      $others = Use-SimState { param($S) @(Get-SimHostMountedDisks $S | Where-Object { $mine -notcontains [string]$_.path }).Count }
      if ($others -gt 0) { break }
      Start-Sleep -Milliseconds 40
    }
  }
  $out
}

function Dismount-SimHostDisk([hashtable]$S, [hashtable]$Disk) {
  foreach ($p in @($Disk.partitions)) { if ($null -ne $p -and $p.letter) { Set-SimHostLetter $S $Disk $p $null } }
  $Disk.mounted = $null
}

Register-SimCmdlet 'Dismount-VHD' {
  param($c)
  $S = $c.S
  $targets = @()
  if ($c.P.ContainsKey('DiskNumber')) {
    $d = Find-SimHostDiskByNumber $S ([int](Get-SimHostFirst $c.P.DiskNumber))
    if ($null -eq $d) { & $c.Error "Dismount-VHD: disk $($c.P.DiskNumber) is not an attached virtual hard disk." 'ObjectNotFound' $c.P.DiskNumber; return }
    $targets += $d
  } else {
    foreach ($p in @($c.P.Path)) {
      $d = Get-SimHostDisk $S ([string]$p)
      if ($null -eq $d -or $null -eq $d.mounted) { & $c.Error "Dismount-VHD: the virtual hard disk '$p' is not attached (mounted) on this host." 'ObjectNotFound' $p; continue }
      $targets += $d
    }
  }
  foreach ($d in $targets) { Dismount-SimHostDisk $S $d; if ($c.P.Passthru) { ConvertTo-SimHostVhdObject $S $d } }
}

# ---------------------------------------------------------------------------------------
# the Storage module
# ---------------------------------------------------------------------------------------

function Get-SimHostSystemDisk([hashtable]$S) {
  $c = @($S.host.volumes | Where-Object { $null -ne $_ -and $_.letter -eq 'C' }) | Select-Object -First 1
  New-SimCim 'MSFT_Disk' ([ordered]@{
      Number = [uint32]0; FriendlyName = 'NVMe System Disk'; SerialNumber = 'SIM0000'; UniqueId = 'SIM-SYSTEM-DISK'
      Path = '\\?\scsi#disk&ven_nvme#system#{53f56307-b6bf-11d0-94f2-00a0c91efb8b}'; Location = 'PCI Slot 0'; BusType = 'NVMe'
      PartitionStyle = 'GPT'; IsOffline = $false; OfflineReason = $null; OperationalStatus = 'Online'; HealthStatus = 'Healthy'
      IsReadOnly = $false; IsSystem = $true; IsBoot = $true; Size = [uint64]$(if ($null -ne $c) { $c.size } else { 1TB }); AllocatedSize = [uint64]0
      Guid = '{5f1b9a3e-0000-4000-8000-000000000001}'; Signature = $null; NumberOfPartitions = [uint32]4
    })
}

Register-SimCmdlet 'Get-Disk' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('Number')) {
    foreach ($n in @($c.P.Number)) {
      if ([int]$n -eq 0) { Get-SimHostSystemDisk $S; continue }
      $d = Find-SimHostDiskByNumber $S ([int]$n)
      if ($null -eq $d) { & $c.Error "No MSFT_Disk objects found with property 'Number' equal to '$n'. Verify the value of the property and retry." 'ObjectNotFound' $n; continue }
      ConvertTo-SimHostDiskObject $S $d
    }
    return
  }
  if ($c.P.ContainsKey('Partition')) {
    foreach ($p in @($c.P.Partition)) { $d = Find-SimHostDiskByNumber $S ([int]$p.DiskNumber); if ($null -ne $d) { ConvertTo-SimHostDiskObject $S $d } }
    return
  }
  if ($c.P.ContainsKey('Path')) {
    foreach ($p in @($c.P.Path)) {
      $d = @(Get-SimHostMountedDisks $S | Where-Object { (ConvertTo-SimHostDiskObject $S $_).Path -eq $p }) | Select-Object -First 1
      if ($null -eq $d) { & $c.Error "No MSFT_Disk objects found with property 'Path' equal to '$p'." 'ObjectNotFound' $p; continue }
      ConvertTo-SimHostDiskObject $S $d
    }
    return
  }
  Get-SimHostSystemDisk $S
  foreach ($d in (Get-SimHostMountedDisks $S | Sort-Object { [int]$_.mounted.number })) { ConvertTo-SimHostDiskObject $S $d }
}

Register-SimCmdlet 'Initialize-Disk' {
  param($c)
  $S = $c.S
  $disk = Resolve-SimHostDisk $c
  Assert-SimHostDiskOnline $disk 'Initialize-Disk'
  if ($disk.partitionStyle -ne 'RAW') { Stop-Sim "Initialize-Disk: disk $($disk.mounted.number) ($($disk.path)) has already been initialized ($($disk.partitionStyle))." 'InvalidOperation' $disk.path 'AlreadyInitialized' }
  $style = $(if ($c.P.PartitionStyle) { [string]$c.P.PartitionStyle } else { 'GPT' })
  $disk.partitionStyle = $style
  $disk.signature = New-SimId
  if ($c.P.PassThru) { ConvertTo-SimHostDiskObject $S $disk }
}

Register-SimCmdlet 'Set-Disk' {
  param($c)
  $S = $c.S
  $disk = Resolve-SimHostDisk $c
  if ($c.P.ContainsKey('IsOffline')) {
    $offline = [bool]$c.P.IsOffline
    if (-not $offline -and $disk.mounted.offline) {
      # [collision] bringing a colliding disk online gives it a new signature (GPT: disk GUID)
      if ($disk.mounted.reason -eq 'Collision') { $disk.signature = New-SimId }
      $disk.mounted.offline = $false
      $disk.mounted.reason = ''
      foreach ($p in @($disk.partitions)) {
        if ($null -ne $p -and $p.fileSystem -and (Get-SimHostPartitionType $p.gptType) -eq 'Basic' -and -not $p.letter) { Set-SimHostLetter $S $disk $p (Get-SimHostFreeLetter $S) }
      }
    } elseif ($offline -and -not $disk.mounted.offline) {
      foreach ($p in @($disk.partitions)) { if ($null -ne $p -and $p.letter) { Set-SimHostLetter $S $disk $p $null } }
      $disk.mounted.offline = $true
      $disk.mounted.reason = 'Policy'
    }
  }
  if ($c.P.ContainsKey('IsReadOnly')) { $disk.mounted.readOnly = [bool]$c.P.IsReadOnly }
}

Register-SimCmdlet 'New-Partition' {
  param($c)
  $S = $c.S
  $disk = Resolve-SimHostDisk $c @('DiskNumber')
  Assert-SimHostDiskOnline $disk 'New-Partition'
  if ($disk.partitionStyle -eq 'RAW') { Stop-Sim "New-Partition: disk $($disk.mounted.number) is not initialized (Initialize-Disk first)." 'InvalidOperation' $disk.path 'NotInitialized' }
  $parts = @($disk.partitions | Where-Object { $_ })
  $offset = [long]1MB
  foreach ($p in $parts) { $offset = [Math]::Max($offset, [long]$p.offset + [long]$p.size) }
  $free = [long]$disk.sizeBytes - $offset - 1MB
  if ($c.P.UseMaximumSize) { $size = $free } else { $size = [long]$c.P.Size }
  if ($size -le 0 -or $size -gt $free) { Stop-Sim "New-Partition: not enough available capacity on disk $($disk.mounted.number) ($size bytes asked, $free free)." 'LimitsExceeded' $disk.path 'NotEnoughSpace' }
  $gpt = $(if ($c.P.GptType) { ([string]$c.P.GptType).ToLowerInvariant() } else { '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}' })
  if (-not $gpt.StartsWith('{')) { $gpt = "{$gpt}" }
  $number = 1 + @($parts | ForEach-Object { [int]$_.number } | Measure-Object -Maximum).Maximum
  if ($parts.Count -eq 0) { $number = 1 }
  $p = @{ number = $number; size = $size; offset = $offset; gptType = $gpt; fileSystem = ''; label = ''; letter = $null; guid = New-SimId }
  Add-SimHostItem $disk 'partitions' $p
  $dir = Get-SimPartitionRoot $disk.id $number
  Get-ChildItem -LiteralPath $dir -Force | Remove-Item -Recurse -Force
  if ($c.P.AssignDriveLetter) { Set-SimHostLetter $S $disk $p (Get-SimHostFreeLetter $S) }
  if ($c.P.DriveLetter) { Set-SimHostLetter $S $disk $p ([string]$c.P.DriveLetter).ToUpperInvariant() }
  ConvertTo-SimHostPartitionObject $S $disk $p
}

Register-SimCmdlet 'Get-Partition' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('DriveLetter')) {
    foreach ($l in @($c.P.DriveLetter)) {
      $found = $false
      foreach ($d in (Get-SimHostMountedDisks $S)) { foreach ($p in @($d.partitions)) { if ($null -ne $p -and [string]$p.letter -eq ([string]$l).ToUpperInvariant() -and -not $d.mounted.offline) { $found = $true; ConvertTo-SimHostPartitionObject $S $d $p } } }
      if (-not $found) { & $c.Error "No MSFT_Partition objects found with property 'DriveLetter' equal to '$l'. Verify the value of the property and retry." 'ObjectNotFound' $l }
    }
    return
  }
  $disks = @()
  if ($c.P.ContainsKey('DiskNumber')) { foreach ($n in @($c.P.DiskNumber)) { $d = Find-SimHostDiskByNumber $S ([int]$n); if ($null -eq $d) { & $c.Error "No MSFT_Disk objects found with property 'Number' equal to '$n'." 'ObjectNotFound' $n } else { $disks += $d } } }
  elseif ($c.P.ContainsKey('Disk')) { foreach ($o in @($c.P.Disk)) { $d = Find-SimHostDiskByNumber $S ([int]$o.Number); if ($null -ne $d) { $disks += $d } } }
  else { $disks = Get-SimHostMountedDisks $S }
  foreach ($d in $disks) {
    $list = @($d.partitions | Where-Object { $_ })
    if ($c.P.ContainsKey('PartitionNumber')) { $list = @($list | Where-Object { @($c.P.PartitionNumber) -contains [uint32]$_.number }) }
    if ($list.Count -eq 0 -and ($c.P.ContainsKey('PartitionNumber') -or $c.P.ContainsKey('DiskNumber'))) {
      & $c.Error "No MSFT_Partition objects found with property 'DiskNumber' equal to '$($d.mounted.number)'$(if ($c.P.ContainsKey('PartitionNumber')) { " and 'PartitionNumber' equal to '$($c.P.PartitionNumber)'" })." 'ObjectNotFound' $d.path
      continue
    }
    foreach ($p in $list) { ConvertTo-SimHostPartitionObject $S $d $p }
  }
}

Register-SimCmdlet 'Set-Partition' {
  param($c)
  $S = $c.S
  $disk, $p = Resolve-SimHostPartition $c
  Assert-SimHostDiskOnline $disk 'Set-Partition'
  if ($c.P.ContainsKey('GptType')) { $g = ([string]$c.P.GptType).ToLowerInvariant(); if (-not $g.StartsWith('{')) { $g = "{$g}" }; $p.gptType = $g }
  if ($c.P.ContainsKey('NewDriveLetter')) { Set-SimHostLetter $S $disk $p ([string]$c.P.NewDriveLetter).ToUpperInvariant() }
}

Register-SimCmdlet 'Add-PartitionAccessPath' {
  param($c)
  $S = $c.S
  $disk, $p = Resolve-SimHostPartition $c
  Assert-SimHostDiskOnline $disk 'Add-PartitionAccessPath'
  if ($c.P.AssignDriveLetter) {
    if ($p.letter) { Stop-Sim "Add-PartitionAccessPath: partition $($p.number) of disk $($disk.mounted.number) already has the drive letter $($p.letter)." 'InvalidOperation' $p.letter 'AccessPathExists' }
    Set-SimHostLetter $S $disk $p (Get-SimHostFreeLetter $S)
  } elseif ($c.P.AccessPath -match '^([A-Za-z]):\\?$') {
    $l = $Matches[1].ToUpperInvariant()
    if ((Get-SimHostUsedLetters $S).Contains($l)) { Stop-Sim "Add-PartitionAccessPath: the drive letter $l is in use." 'ResourceExists' $l }
    Set-SimHostLetter $S $disk $p $l
  } else { Stop-Sim 'Add-PartitionAccessPath: only drive letters are simulated as access paths' 'NotImplemented' }
  if ($c.P.PassThru) { ConvertTo-SimHostPartitionObject $S $disk $p }
}

Register-SimCmdlet 'Remove-PartitionAccessPath' {
  param($c)
  $S = $c.S
  $disk, $p = Resolve-SimHostPartition $c
  $path = [string]$c.P.AccessPath
  if ($path -match '^([A-Za-z]):\\?$' -and $p.letter -eq $Matches[1].ToUpperInvariant()) { Set-SimHostLetter $S $disk $p $null; return }
  Stop-Sim "Remove-PartitionAccessPath: '$path' is not an access path of partition $($p.number) on disk $($disk.mounted.number)." 'ObjectNotFound' $path
}

Register-SimCmdlet 'Format-Volume' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('Partition') -or $c.P.ContainsKey('DriveLetter')) { $disk, $p = Resolve-SimHostPartition $c }
  else { Stop-Sim 'Format-Volume: only -Partition and -DriveLetter are simulated' 'NotImplemented' }
  Assert-SimHostDiskOnline $disk 'Format-Volume'
  if ((Get-SimHostPartitionType $p.gptType) -eq 'System') {
    # as labctl's build-windows-base.ps1 says: an EFI system partition is not reachable for
    # Format-Volume (so it is formatted as a basic data partition and typed EFI afterwards)
    Stop-Sim "Format-Volume: partition $($p.number) of disk $($disk.mounted.number) is an EFI system partition: it has no volume that Format-Volume can reach." 'InvalidOperation' $p.number 'NoVolume'
  }
  $fs = $(if ($c.P.FileSystem) { [string]$c.P.FileSystem } else { 'NTFS' })
  if ($fs -eq 'FAT32' -and [long]$p.size -gt 32GB) { Stop-Sim 'Format-Volume: FAT32 volumes larger than 32 GB cannot be created.' 'InvalidArgument' $p.size }
  $p.fileSystem = $fs
  $p.label = [string]$c.P.NewFileSystemLabel
  $dir = Get-SimPartitionRoot $disk.id ([int]$p.number)
  Get-ChildItem -LiteralPath $dir -Force | Remove-Item -Recurse -Force
  ConvertTo-SimHostVolumeObject $S $disk $p
}

function Get-SimHostImageVolume([hashtable]$S, [hashtable]$Img) {
  $letter = $null
  if ($Img.letter -and $Img.letterVisible) { $letter = [char]([string]$Img.letter) }
  New-SimCim 'MSFT_Volume' ([ordered]@{
      DriveLetter = $letter; FileSystemLabel = [string]$Img.label; FileSystem = 'UDF'; FileSystemType = 'UDF'; DriveType = 'CD-ROM'
      HealthStatus = 'Healthy'; OperationalStatus = 'OK'; Size = [uint64]$Img.size; SizeRemaining = [uint64]0
      Path = "\\?\Volume{$($Img.volumeGuid)}\"; UniqueId = "\\?\Volume{$($Img.volumeGuid)}\"; ObjectId = "volume:image:$($Img.volumeGuid)"
    })
}

function Get-SimHostHostVolume([hashtable]$S, [hashtable]$V) {
  New-SimCim 'MSFT_Volume' ([ordered]@{
      DriveLetter = [char]([string]$V.letter); FileSystemLabel = [string]$V.label; FileSystem = [string]$V.fileSystem; FileSystemType = [string]$V.fileSystem
      DriveType = 'Fixed'; HealthStatus = 'Healthy'; OperationalStatus = 'OK'; Size = [uint64]$V.size; SizeRemaining = [uint64]$V.sizeRemaining
      Path = "\\?\Volume{host-$($V.letter)}\"; UniqueId = "\\?\Volume{host-$($V.letter)}\"; ObjectId = "volume:host:$($V.letter)"
    })
}

Register-SimCmdlet 'Get-Volume' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('DiskImage')) {
    foreach ($o in @($c.P.DiskImage)) {
      $img = @($S.images | Where-Object { $null -ne $_ -and (Get-SimPathKey $_.path) -eq (Get-SimPathKey ([string]$o.ImagePath)) }) | Select-Object -First 1
      if ($null -ne $img) { Get-SimHostImageVolume $S $img }
    }
    return
  }
  if ($c.P.ContainsKey('Partition')) {
    $disk, $p = Resolve-SimHostPartition $c
    if ($p.fileSystem) { ConvertTo-SimHostVolumeObject $S $disk $p }
    return
  }
  $all = New-Object System.Collections.Generic.List[object]
  foreach ($v in @($S.host.volumes)) { if ($null -ne $v) { $all.Add((Get-SimHostHostVolume $S $v)) } }
  foreach ($d in (Get-SimHostMountedDisks $S)) { if (-not $d.mounted.offline) { foreach ($p in @($d.partitions)) { if ($null -ne $p -and $p.fileSystem) { $all.Add((ConvertTo-SimHostVolumeObject $S $d $p)) } } } }
  foreach ($i in @($S.images)) { if ($null -ne $i) { $all.Add((Get-SimHostImageVolume $S $i)) } }
  if ($c.P.ContainsKey('DriveLetter')) {
    foreach ($l in @($c.P.DriveLetter)) {
      $hit = @($all | Where-Object { $null -ne $_.DriveLetter -and [string]$_.DriveLetter -eq ([string]$l).ToUpperInvariant() })
      if ($hit.Count -eq 0) { & $c.Error "No MSFT_Volume objects found with property 'DriveLetter' equal to '$l'. Verify the value of the property and retry." 'ObjectNotFound' $l; continue }
      $hit
    }
    return
  }
  if ($c.P.ContainsKey('FileSystemLabel')) { return @($all | Where-Object { Test-SimHostName $_.FileSystemLabel $c.P.FileSystemLabel }) }
  $all
}

# ---------------------------------------------------------------------------------------
# ISO images
# ---------------------------------------------------------------------------------------

function Find-SimHostImage([hashtable]$S, [string]$Path) {
  @($S.images | Where-Object { $null -ne $_ -and (Get-SimPathKey $_.path) -eq (Get-SimPathKey $Path) }) | Select-Object -First 1
}

function ConvertTo-SimHostDiskImageObject([hashtable]$S, [string]$Path, [long]$Size) {
  $img = Find-SimHostImage $S $Path
  New-SimCim 'MSFT_DiskImage' ([ordered]@{
      ImagePath = $Path; Attached = ($null -ne $img); DevicePath = $(if ($null -ne $img) { [string]$img.devicePath } else { $null })
      Number = $(if ($null -ne $img) { [uint32]$img.number } else { $null }); StorageType = [uint32]1
      Size = [uint64]$Size; FileSize = [uint64]$Size; LogicalSectorSize = [uint32]2048; BlockSize = [uint32]0
    })
}

<# What an ISO shows when mounted: a folder with its files. #>
function New-SimHostIsoContent([hashtable]$S, [hashtable]$Kind, [string]$Path) {
  $sha = [System.Security.Cryptography.SHA256]::Create()
  $hash = -join ($sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes((Get-SimPathKey $Path))) | Select-Object -First 8 | ForEach-Object { $_.ToString('x2') })
  $dir = Get-SimPartitionRoot "iso-$hash" 0
  Get-ChildItem -LiteralPath $dir -Force | Remove-Item -Recurse -Force
  $label = 'DVD'
  $write = { param($rel, $text) $f = Join-Path -Path $dir -ChildPath $rel; [void][System.IO.Directory]::CreateDirectory((Split-Path -Path $f -Parent)); [System.IO.File]::WriteAllText($f, $text) }
  switch ($Kind.kind) {
    'iso-windows-server' {
      $label = 'SSS_X64FREE_EN-US_DV9'
      & $write 'sources/install.wim' ('LABCTL-SIM-WIM ' + (ConvertTo-Json -InputObject @{ images = @($Kind.meta.images) } -Depth 6 -Compress) + "`n")
      & $write 'sources/boot.wim' "LABCTL-SIM-WIM {`"images`":[{`"index`":1,`"name`":`"Microsoft Windows PE (amd64)`"}]}`n"
      & $write 'setup.exe' "LABCTL-SIM-EXE setup`n"
      & $write 'efi/boot/bootx64.efi' "LABCTL-SIM-EFI windows-setup`n"
    }
    'iso-ubuntu-live-server' {
      $label = 'Ubuntu-Server 24.04 LTS amd64'
      & $write 'casper/vmlinuz' "LABCTL-SIM-KERNEL`n"
      & $write 'EFI/boot/bootx64.efi' "LABCTL-SIM-EFI ubuntu`n"
      & $write '.disk/info' "Ubuntu-Server 24.04 LTS `"Noble Numbat`" - Release amd64`n"
    }
    'iso9660' {
      $iso = Read-SimHostIso9660 $Kind.local
      $label = $iso.label
      foreach ($name in $iso.files.Keys) { [System.IO.File]::WriteAllBytes((Join-Path -Path $dir -ChildPath $name), $iso.files[$name]) }
    }
  }
  return @{ dir = $dir; label = $label }
}

Register-SimCmdlet 'Mount-DiskImage' {
  param($c)
  $S = $c.S
  $paths = $(if ($c.P.ContainsKey('InputObject')) { @($c.P.InputObject | ForEach-Object { [string]$_.ImagePath }) } else { @($c.P.ImagePath) })
  foreach ($path in $paths) {
    $k = Get-SimHostFileKind $S ([string]$path)
    if ($k.kind -eq 'missing') { Stop-Sim "Mount-DiskImage: the system cannot find the file specified: '$path'." 'ObjectNotFound' $path 'ObjectNotFound' }
    if ($k.kind -notlike 'iso*') {
      if ($k.kind -eq 'vhdx') { Stop-Sim 'Mount-DiskImage of a VHD(X) is not simulated: use Mount-VHD' 'NotImplemented' }
      Stop-Sim "Mount-DiskImage: the file '$path' is not a disc image (The file or directory is corrupted and unreadable)." 'InvalidData' $path
    }
    $size = (New-Object System.IO.FileInfo -ArgumentList $k.local).Length
    $existing = Find-SimHostImage $S ([string]$path)
    if ($null -eq $existing) {
      $content = New-SimHostIsoContent $S $k ([string]$path)
      $numbers = @(@($S.images) | Where-Object { $_ } | ForEach-Object { [int]$_.number })
      $n = 0
      while ($numbers -contains $n) { $n++ }
      $img = @{
        path = [string]$path; contentDir = $content.dir; label = $content.label; size = $size; number = $n; devicePath = "\\.\CDROM$n"
        volumeGuid = New-SimId; mountedAt = (Get-SimHostNowText)
        letter = $(if ($c.P.NoDriveLetter) { $null } else { Get-SimHostFreeLetter $S }); letterVisible = $false
      }
      Add-SimHostItem $S 'images' $img
    }
    # [iso-twice] an image mounted already: the call succeeds and answers with that mount
    if ($c.P.PassThru) { ConvertTo-SimHostDiskImageObject $S ([string]$path) $size }
  }
}

Register-SimCmdlet 'Get-DiskImage' {
  param($c)
  $S = $c.S
  if ($c.P.ContainsKey('Volume')) {
    foreach ($v in @($c.P.Volume)) { $img = @($S.images | Where-Object { $null -ne $_ -and "\\?\Volume{$($_.volumeGuid)}\" -eq [string]$v.Path }) | Select-Object -First 1; if ($null -ne $img) { ConvertTo-SimHostDiskImageObject $S $img.path $img.size } }
    return
  }
  if ($c.P.ContainsKey('DevicePath')) {
    $img = @($S.images | Where-Object { $null -ne $_ -and $_.devicePath -eq [string]$c.P.DevicePath }) | Select-Object -First 1
    if ($null -eq $img) { & $c.Error "No MSFT_DiskImage objects found with property 'DevicePath' equal to '$($c.P.DevicePath)'." 'ObjectNotFound' $c.P.DevicePath; return }
    return ConvertTo-SimHostDiskImageObject $S $img.path $img.size
  }
  foreach ($path in @($c.P.ImagePath)) {
    $k = Get-SimHostFileKind $S ([string]$path)
    if ($k.kind -eq 'missing') { & $c.Error "Get-DiskImage: the system cannot find the file specified: '$path'." 'ObjectNotFound' $path; continue }
    # an image that is not mounted is still described, with Attached = False
    ConvertTo-SimHostDiskImageObject $S ([string]$path) (New-Object System.IO.FileInfo -ArgumentList $k.local).Length
  }
}

Register-SimCmdlet 'Dismount-DiskImage' {
  param($c)
  $S = $c.S
  $paths = @()
  if ($c.P.ContainsKey('InputObject')) { $paths = @($c.P.InputObject | ForEach-Object { [string]$_.ImagePath }) }
  elseif ($c.P.ContainsKey('DevicePath')) { $paths = @($S.images | Where-Object { $null -ne $_ -and $_.devicePath -eq [string]$c.P.DevicePath } | ForEach-Object { $_.path }) }
  else { $paths = @($c.P.ImagePath) }
  foreach ($path in $paths) {
    $img = Find-SimHostImage $S ([string]$path)
    if ($null -eq $img) {
      # strict: an image that is not mounted cannot be dismounted (what a script dismounts, it mounted)
      & $c.Error "Dismount-DiskImage: the disk image '$path' is not attached (mounted) on this host." 'ObjectNotFound' $path
      continue
    }
    if ($img.letter -and $null -ne $S.host.drives) { $S.host.drives.Remove([string]$img.letter) }
    $gone = Get-SimPathKey ([string]$path)
    Select-SimHostItems $S 'images' { param($i) (Get-SimPathKey $i.path) -ne $gone }
    ConvertTo-SimHostDiskImageObject $S ([string]$path) ([long]$img.size)
  }
}

# [iso-letter] the volume of a mounted ISO gets its drive letter a moment after Mount-DiskImage
Register-SimClock {
  param($S, $now)
  $delay = Get-SimHostTiming $S 'isoLetterSeconds' 0.4
  foreach ($img in @($S.images)) {
    if ($null -eq $img -or $img.letterVisible -or -not $img.letter) { continue }
    if ((Get-SimHostElapsed $img.mountedAt $now) -lt $delay) { continue }
    $img.letterVisible = $true
    if (-not $S.host.drives) { $S.host.drives = @{} }
    $S.host.drives[[string]$img.letter] = [string]$img.contentDir
  }
}

# ---------------------------------------------------------------------------------------
# DISM: Windows images in a .wim
# ---------------------------------------------------------------------------------------

function Read-SimHostWim([hashtable]$S, [string]$Path) {
  $local = Get-SimHostLocalPath $S $Path
  if ($null -eq $local -or -not [System.IO.File]::Exists($local)) { Stop-Sim "The system cannot find the file specified: '$Path'." 'ObjectNotFound' $Path 'DismError' }
  $text = [System.IO.File]::ReadAllText($local)
  if (-not $text.StartsWith('LABCTL-SIM-WIM ')) { Stop-Sim "An error occurred while attempting to open '$Path': the file is not a valid image file (0xc1420117)." 'InvalidData' $Path 'DismError' }
  return @((ConvertFrom-Json -InputObject $text.Substring(15) -AsHashtable).images)
}

Register-SimCmdlet 'Get-WindowsImage' {
  param($c)
  $S = $c.S
  $path = [string]$c.P.ImagePath
  foreach ($i in (Read-SimHostWim $S $path)) {
    if ($c.P.ContainsKey('Index') -and [int]$i.index -ne [int]$c.P.Index) { continue }
    if ($c.P.ContainsKey('Name') -and [string]$i.name -ne [string]$c.P.Name) { continue }
    $o = [pscustomobject][ordered]@{ ImagePath = $path; ImageIndex = [uint32]$i.index; ImageName = [string]$i.name; ImageDescription = [string]$i.name; ImageSize = [uint64]9GB }
    $o.PSObject.TypeNames.Insert(0, 'Microsoft.Dism.Commands.BasicImageInfoObject')
    $o
  }
}

Register-SimCmdlet 'Expand-WindowsImage' {
  param($c)
  $S = $c.S
  $path = [string]$c.P.ImagePath
  $images = Read-SimHostWim $S $path
  $img = $(if ($c.P.ContainsKey('Index')) { @($images | Where-Object { [int]$_.index -eq [int]$c.P.Index }) | Select-Object -First 1 } else { @($images | Where-Object { $_.name -eq $c.P.Name }) | Select-Object -First 1 })
  if ($null -eq $img) { Stop-Sim "Expand-WindowsImage: the specified image ($($c.P.Index)$($c.P.Name)) does not exist in '$path' (0xc1420115)." 'ObjectNotFound' $path 'DismError' }
  $apply = [string]$c.P.ApplyPath
  $local = Get-SimHostLocalPath $S $apply
  if ($null -eq $local -or -not [System.IO.Directory]::Exists($local)) { Stop-Sim "Expand-WindowsImage: the directory name is invalid: '$apply'." 'ObjectNotFound' $apply 'DismError' }
  foreach ($rel in 'Windows/System32/winload.efi', 'Windows/System32/config/SYSTEM', 'Windows/Boot/EFI/bootmgfw.efi', 'Windows/explorer.exe', 'Users/Default/NTUSER.DAT', 'Program Files/Common Files/placeholder') {
    $f = Join-Path -Path $local -ChildPath $rel
    [void][System.IO.Directory]::CreateDirectory((Split-Path -Path $f -Parent))
    [System.IO.File]::WriteAllText($f, "LABCTL-SIM-WINDOWS $($img.name)`n")
  }
  [System.IO.File]::WriteAllText((Join-Path -Path $local -ChildPath 'Windows/labctl-sim-image.json'), (ConvertTo-Json -InputObject @{ index = $img.index; name = $img.name; source = $path } -Compress))
  [pscustomobject]@{ Path = $apply; Online = $false; RestartNeeded = $false }
}

# ---------------------------------------------------------------------------------------
# bcdboot.exe W:\Windows /s S: /f UEFI
# ---------------------------------------------------------------------------------------

function Find-SimHostLetterPartition([hashtable]$S, [string]$Letter) {
  foreach ($d in (Get-SimHostMountedDisks $S)) { foreach ($p in @($d.partitions)) { if ($null -ne $p -and [string]$p.letter -eq $Letter.ToUpperInvariant()) { return $d, $p } } }
  return $null, $null
}

Register-SimNative 'bcdboot.exe' {
  param($c)
  $a = @($c.Args)
  if ($a.Count -lt 1) { $c.Out.Add('BCDBOOT - Boot Configuration Data Store Creation and Repair Tool. Usage: bcdboot <source> [/s <volume-letter>] [/f UEFI|BIOS|ALL]'); return 87 }
  $source = $a[0]
  $target = $null; $firmware = 'UEFI'
  for ($i = 1; $i -lt $a.Count; $i++) {
    if ($a[$i] -ieq '/s' -and $i + 1 -lt $a.Count) { $target = $a[$i + 1]; $i++ }
    elseif ($a[$i] -ieq '/f' -and $i + 1 -lt $a.Count) { $firmware = $a[$i + 1]; $i++ }
  }
  return Use-SimState {
    param($S)
    if ($source -notmatch '^([A-Za-z]):\\Windows\\?$') { $c.Out.Add("BFSVC Error: the source $source is not a Windows folder"); $c.Out.Add('Failure when attempting to copy boot files.'); return 1 }
    $wd, $wp = Find-SimHostLetterPartition $S $Matches[1]
    $winLocal = Get-SimHostLocalPath $S $source
    if ($null -eq $wd -or $null -eq $winLocal -or -not [System.IO.File]::Exists((Join-Path -Path $winLocal -ChildPath 'Boot/EFI/bootmgfw.efi'))) {
      $c.Out.Add("BFSVC Error: Failed to open the source boot files in $source (no Boot\EFI\bootmgfw.efi)")
      $c.Out.Add('Failure when attempting to copy boot files.')
      return 1
    }
    if ($firmware -notin @('UEFI', 'ALL')) { $c.Out.Add('Failure when attempting to copy boot files.'); return 1 }
    if ($target -notmatch '^([A-Za-z]):\\?$') { $c.Out.Add('BFSVC Error: no system partition given (/s)'); $c.Out.Add('Failure when attempting to copy boot files.'); return 1 }
    $sd, $sp = Find-SimHostLetterPartition $S $Matches[1]
    if ($null -eq $sd -or $sp.fileSystem -ne 'FAT32') {
      $c.Out.Add("BFSVC Error: the system partition $target is not a FAT32 volume")
      $c.Out.Add('Failure when attempting to copy boot files.')
      return 1
    }
    $esp = Get-SimPartitionRoot $sd.id ([int]$sp.number)
    foreach ($f in 'EFI/Microsoft/Boot/bootmgfw.efi', 'EFI/Boot/bootx64.efi') {
      $file = Join-Path -Path $esp -ChildPath $f
      [void][System.IO.Directory]::CreateDirectory((Split-Path -Path $file -Parent))
      [System.IO.File]::WriteAllText($file, "LABCTL-SIM-EFI windows`n")
    }
    # the BCD store names the Windows partition by its disk's signature (GPT: disk GUID)
    $bcd = @{ diskSignature = (Get-SimHostSignature $S $wd); partition = [int]$wp.number }
    [System.IO.File]::WriteAllText((Join-Path -Path $esp -ChildPath 'EFI/Microsoft/Boot/BCD'), (ConvertTo-Json -InputObject $bcd -Compress))
    $c.Out.Add('Boot files successfully created.')
    return 0
  }
}

# ---------------------------------------------------------------------------------------
# Remove-Item of a file that is open: a mounted or running VM's disk, a mounted ISO
# ---------------------------------------------------------------------------------------

function Get-SimHostRemoveTargets([hashtable]$S, [hashtable]$Bound) {
  $paths = @()
  if ($Bound.ContainsKey('LiteralPath')) { $paths = @($Bound.LiteralPath) } elseif ($Bound.ContainsKey('Path')) { $paths = @($Bound.Path) }
  $locked = @()
  foreach ($p in $paths) {
    $local = Get-SimHostLocalPath $S ([string]$p)
    if ($null -eq $local) { continue }
    $files = @()
    if ([System.IO.File]::Exists($local)) { $files = @(@{ local = $local; path = [string]$p }) }
    elseif ([System.IO.Directory]::Exists($local) -and $Bound.Recurse) {
      foreach ($f in [System.IO.Directory]::EnumerateFiles($local, '*', [System.IO.SearchOption]::AllDirectories)) {
        $rel = $f.Substring($local.TrimEnd('/').Length).TrimStart('/') -replace '/', '\'
        $files += @{ local = $f; path = ([string]$p).TrimEnd('\') + '\' + $rel }
      }
    }
    foreach ($f in $files) {
      if ($f.local -notmatch '\.(vhdx|avhdx|vhd|iso)$') { continue }
      $why = Get-SimHostInUse $S $f.local
      if ($why) { $locked += @{ local = $f.local; path = $f.path; why = $why } }
    }
  }
  return , $locked
}

Register-SimHostIntercept 'Remove-Item' {
  param($bound)
  $S = Read-SimState
  return (Get-SimHostRemoveTargets $S $bound).Count -gt 0
}

<#
  Windows refuses to delete a file another process holds open. Remove-Item writes an error
  for it and, with -Recurse, deletes what it can around it (the folder stays, with the file).
#>
Register-SimHostCmdlet 'Remove-Item' {
  param($c)
  $S = $c.S
  $locked = Get-SimHostRemoveTargets $S $c.P
  $keep = New-Object System.Collections.Generic.HashSet[string]
  foreach ($l in $locked) {
    $d = $l.local
    while ($d) { [void]$keep.Add($d); $parent = Split-Path -Path $d -Parent; if ($parent -eq $d) { break }; $d = $parent }
  }
  $paths = $(if ($c.P.ContainsKey('LiteralPath')) { @($c.P.LiteralPath) } else { @($c.P.Path) })
  foreach ($p in $paths) {
    $local = Get-SimHostLocalPath $S ([string]$p)
    if ($null -eq $local -or -not [System.IO.Directory]::Exists($local) -or -not $c.P.Recurse) { continue }
    foreach ($f in @([System.IO.Directory]::EnumerateFiles($local, '*', [System.IO.SearchOption]::AllDirectories))) { if (-not $keep.Contains($f)) { [System.IO.File]::Delete($f) } }
    foreach ($dir in @([System.IO.Directory]::EnumerateDirectories($local, '*', [System.IO.SearchOption]::AllDirectories) | Sort-Object Length -Descending)) { if (-not $keep.Contains($dir)) { [System.IO.Directory]::Delete($dir, $true) } }
  }
  foreach ($l in $locked) {
    & $c.Error "Cannot remove item $($l.path): $(Get-SimHostSharingMessage $l.path)" 'WriteError' $l.path
  }
}
