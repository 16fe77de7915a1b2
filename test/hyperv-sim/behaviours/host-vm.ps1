# The simulated Hyper-V host, part 2: virtual machines. Get-VM, New-VM, Set-VM, Start/Stop/
# Resume/Remove-VM, firmware and boot order, hard disk and DVD drives, network adapters of
# VMs, COM ports, checkpoints; and what runs inside a VM until Windows or Ubuntu is ready
# (the clock below): UEFI boot with Secure Boot, the Ubuntu autoinstall from its NoCloud
# seed, Windows' first boot with unattend.xml. What a guest does once it is ready
# (PowerShell Direct, features, MSIs, IIS) is in behaviours/guest-*.ps1.
#
# Sources for the rules, cited where each is enforced:
#   [ws2016-new]  Microsoft Learn, "What's new in Hyper-V on Windows Server"
#                 https://learn.microsoft.com/windows-server/virtualization/hyper-v/what-s-new-in-hyper-v-on-windows
#                 (MicrosoftDocs/windowsserverdocs WindowsServerDocs/virtualization/hyper-v/What-s-new-in-Hyper-V-on-Windows.md)
#   [gen2-sec]    Microsoft Learn, "Generation 2 virtual machine security settings for Hyper-V"
#                 (WindowsServerDocs/virtualization/hyper-v/learn-more/Generation-2-virtual-machine-security-settings-for-Hyper-V.md)
#   [remove-vm]   Microsoft Learn, Remove-VM (windows-powershell-docs docset/winserver2025-ps/Hyper-V/Remove-VM.md)
#   [tcpip-if]    Microsoft Learn, unattend Microsoft-Windows-TCPIP | Interfaces | Interface | Identifier, and | Routes:
#                 https://learn.microsoft.com/windows-hardware/customize/desktop/unattend/microsoft-windows-tcpip-interfaces-interface-identifier
#                 https://learn.microsoft.com/windows-hardware/customize/desktop/unattend/microsoft-windows-tcpip-interfaces-interface-routes
#   [tcpip-route] https://learn.microsoft.com/windows-hardware/customize/desktop/unattend/microsoft-windows-tcpip-interfaces-interface-routes-route-identifier
#   [complexity]  Microsoft Learn, "Password must meet complexity requirements"
#                 https://learn.microsoft.com/previous-versions/windows/it-pro/windows-10/security/threat-protection/security-policy-settings/password-must-meet-complexity-requirements
#   [stop-vm]     Microsoft Learn, Stop-VM (windows-powershell-docs docset/winserver2025-ps/Hyper-V/Stop-VM.md): "Shuts down,
#                 turns off, or saves a virtual machine"; -Force: "the virtual machine has five minutes to save data and
#                 shut down"; -TurnOff: "equivalent to disconnecting the power"
#   [save-vm]     Microsoft Learn, Save-VM (…/Hyper-V/Save-VM.md): "saves a virtual machine. This is similar to hibernating a
#                 physical computer"
#   [checkpoints] Microsoft Learn, "Using checkpoints to revert virtual machines to a previous state"
#                 (MicrosoftDocs/Virtualization-Documentation virtualization/hyper-v-on-windows/user-guide/checkpoints.md):
#                 Standard checkpoints take the VM's memory state, Production ones use VSS / File System Freeze and no memory
#                 ("Production checkpoints are selected by default"; CheckpointType Production falls back to a standard
#                 checkpoint when a production one fails, ProductionOnly does not); names "are limited to 100 characters, and
#                 the name cannot be blank"; checkpoints "are stored as .avhdx files in the same location as the .vhdx files",
#                 deleting one merges them; after applying a production checkpoint "the virtual machine is in an off state",
#                 after a standard one "the system is in the exact state that it was when the checkpoint was created"
#   [restore]     Microsoft Learn, Restore-VMSnapshot (…/Hyper-V/Restore-VMSnapshot.md; Restore-VMCheckpoint is its alias)
#   [vhd-parent]  Microsoft Learn, IVMHardDisk::Parent (win32 vpc/ivmharddisk-parent): VM_E_PARENT_CHILD_ID_MISMATCH "The
#                 virtual hard disk image located by the parent parameter does not have the same ID as the child disk
#                 image"; Msvm_ImageManagementService.SetParentVirtualHardDisk (hyperv_v2): IgnoreIDMismatch "if the new
#                 parent virtual hard disk is not identical to the original parent, data corruption can occur" — a parent
#                 written to after its children were made no longer matches them
#   [nocloud]     cloud-init docs, NoCloud datasource (a disc labelled CIDATA with user-data, meta-data and optionally
#                 network-config) and "cloud-init clean" (cloud-init(1): "Remove logs and artifacts so cloud-init can
#                 re-run"): per-instance modules (users, host keys, hostname) run when meta-data's instance-id is new
#   [heartbeat]   Microsoft.HyperV.PowerShell.VMHeartbeatStatus: Unknown, Disabled, NoContact, Error,
#                 LostCommunication, OkApplicationsUnknown, OkApplicationsHealthy, OkApplicationsCritical, Paused

$script:TemplateIds = @{
  MicrosoftWindows                  = '1734c6e8-3154-4dda-ba5f-a874cc483422'
  MicrosoftUEFICertificateAuthority = '272e7447-90a4-4563-a4b9-8e4ab00526ce'
  OpenSourceShieldedVM              = '4292ae2b-ee2c-42b5-a969-dd8f8689f6f3'
}

# ---------------------------------------------------------------------------------------
# finding VMs and building the objects Get-VM & co. return
# ---------------------------------------------------------------------------------------

function Find-SimHostVm([hashtable]$S, [string]$Id) { @($S.vms | Where-Object { $_.id -eq $Id }) | Select-Object -First 1 }

<#
  The VMs a call names: -VM objects (by Id, as Hyper-V does), -VMName / -Name (with
  wildcards). A name that matches nothing is Hyper-V's "unable to find" error: terminating
  for the cmdlets that change something ($Strict), non-terminating for Get-*.
#>
function Resolve-SimHostVms($c, [switch]$Strict, [string]$NameParam = '') {
  $S = $c.S
  $out = New-Object System.Collections.Generic.List[object]
  if ($c.P.ContainsKey('VM')) {
    foreach ($o in @($c.P.VM)) {
      if ($null -eq $o) { continue }
      $vm = Find-SimHostVm $S ([string]$o.Id)
      if ($null -eq $vm) { Stop-Sim "Hyper-V was unable to find a virtual machine with ID $($o.Id) ('$($o.Name)'): it was removed." 'ObjectNotFound' $o.Name }
      $out.Add($vm)
    }
    return , $out.ToArray()
  }
  $names = $null
  foreach ($p in @($NameParam, 'VMName', 'Name')) {
    if ($p -and $c.P.ContainsKey($p)) { $names = @($c.P[$p]); break }
  }
  if ($null -eq $names) {
    foreach ($vm in @($S.vms)) { if ($null -ne $vm) { $out.Add($vm) } }
    return , $out.ToArray()
  }
  foreach ($n in $names) {
    $found = @($S.vms | Where-Object { $null -ne $_ -and (Test-SimHostName $_.name $n) })
    if ($found.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters([string]$n)) {
      $msg = "Hyper-V was unable to find a virtual machine with name `"$n`"."
      if ($Strict) { Stop-Sim $msg 'ObjectNotFound' $n 'InvalidParameter' }
      & $c.Error $msg 'ObjectNotFound' $n
    }
    foreach ($f in $found) { if (-not $out.Contains($f)) { $out.Add($f) } }
  }
  return , $out.ToArray()
}

function Get-SimHostHeartbeat([hashtable]$S, [hashtable]$Vm) {
  $state = [string]$Vm.state
  if ($state -eq 'Paused') { return 'Paused' }
  if ($state -ne 'Running') { return $null }
  $g = $Vm.guest
  $phase = if ($null -ne $g) { [string]$g.phase } else { 'none' }
  $os = if ($null -ne $g) { [string]$g.os } else { '' }
  switch ($phase) {
    'installer' { if ($g.kernelUp) { return 'OkApplicationsUnknown' } return 'NoContact' }
    'installing' { return 'OkApplicationsUnknown' }
    'booting' { return 'NoContact' }
    'setup' { return 'OkApplicationsHealthy' }
    'failed' { if ($os -eq 'windows') { return 'OkApplicationsHealthy' } return 'NoContact' }
    # Linux integration services report no application health: "OK (No Application Data)"
    'ready' { if ($os -eq 'windows') { return 'OkApplicationsHealthy' } return 'OkApplicationsUnknown' }
    default { return 'NoContact' }
  }
}

function Get-SimHostDriveName([string]$Kind, [int]$Controller, [int]$Location) {
  if ($Kind -eq 'DvdDrive') { return "DVD Drive on SCSI controller number $Controller at location $Location" }
  return "Hard Drive on SCSI controller number $Controller at location $Location"
}

function ConvertTo-SimHostDriveObject([hashtable]$Vm, [hashtable]$Drive, [string]$Kind, $Snapshot = $null) {
  if ($Kind -eq 'DvdDrive') { $o = [Microsoft.HyperV.PowerShell.DvdDrive]::new(); $o.DvdMediaType = $(if ($Drive.path) { 'ISO' } else { 'None' }) }
  else { $o = [Microsoft.HyperV.PowerShell.HardDiskDrive]::new() }
  $o.ComputerName = 'HVHOST'
  $o.Name = Get-SimHostDriveName $Kind ([int]$Drive.controller) ([int]$Drive.location)
  $o.Id = 'Microsoft:{0}\{1}\{2}\{3}\D' -f $Vm.id.ToUpperInvariant(), '83F8638B-8DCA-4152-9EDA-2CA8B33039B4', [int]$Drive.controller, [int]$Drive.location
  $o.VMName = $Vm.name
  $o.VMId = [guid]$Vm.id
  $o.Path = [string]$Drive.path
  $o.ControllerType = 'SCSI'
  $o.ControllerNumber = [int]$Drive.controller
  $o.ControllerLocation = [int]$Drive.location
  if ($null -ne $Snapshot) { $o.VMSnapshotId = [guid]$Snapshot.id; $o.VMSnapshotName = $Snapshot.name }
  return $o
}

function ConvertTo-SimHostAdapterObject([hashtable]$Vm, [hashtable]$Adapter) {
  $o = [Microsoft.HyperV.PowerShell.VMNetworkAdapter]::new()
  $o.ComputerName = 'HVHOST'
  $o.Name = [string]$Adapter.name
  $o.Id = 'Microsoft:{0}\{1}' -f $Vm.id.ToUpperInvariant(), ([string]$Adapter.id).ToUpperInvariant()
  $o.VMName = $Vm.name
  $o.VMId = [guid]$Vm.id
  $o.SwitchName = [string]$Adapter.switchName
  $o.MacAddress = ConvertTo-SimHostMac $Adapter.mac
  $o.DynamicMacAddressEnabled = -not [bool]$Adapter.staticMac
  $o.IsManagementOs = $false
  $o.Connected = [bool]$Adapter.switchName
  # what the guest reports through the KVP integration service once its OS runs
  $ips = @()
  $g = $Vm.guest
  if ([string]$Vm.state -eq 'Running' -and $null -ne $g -and $g.phase -eq 'ready' -and (ConvertTo-SimHostMac ([string]$g.mac)) -eq (ConvertTo-SimHostMac $Adapter.mac)) {
    $ips = @($g.ipv4 | Where-Object { $_ }) + @(Get-SimHostLinkLocal $Adapter.mac)
  }
  $o.IPAddresses = [string[]]$ips
  $o.Status = [string[]]@('Ok')
  return $o
}

<# fe80:: address from the MAC (EUI-64), as a Linux guest forms it. #>
function Get-SimHostLinkLocal([string]$Mac) {
  $h = ConvertTo-SimHostMac $Mac
  if ($h.Length -ne 12) { return @() }
  $b = @(0..5 | ForEach-Object { [Convert]::ToInt32($h.Substring($_ * 2, 2), 16) })
  $b[0] = $b[0] -bxor 2
  $groups = @(($b[0] * 256 + $b[1]), ($b[2] * 256 + 0xff), (0xfe * 256 + $b[3]), ($b[4] * 256 + $b[5]))
  return 'fe80::' + (($groups | ForEach-Object { '{0:x}' -f $_ }) -join ':')
}

function ConvertTo-SimHostComPortObject([hashtable]$Vm, [int]$Number) {
  $o = [Microsoft.HyperV.PowerShell.VMComPort]::new()
  $o.ComputerName = 'HVHOST'
  $o.Name = "COM $Number"
  $o.Id = 'Microsoft:{0}\{1}' -f $Vm.id.ToUpperInvariant(), "COM$Number"
  $o.VMName = $Vm.name
  $o.VMId = [guid]$Vm.id
  $path = ''
  if ($null -ne $Vm.comPorts) { $path = [string]$Vm.comPorts["$Number"] }
  $o.Path = $path
  $o.DebuggerMode = 'Off'
  return $o
}

function Get-SimHostVmStatus([hashtable]$Vm, [DateTime]$Now) {
  if ($Vm.mergeUntil) {
    $end = ConvertTo-SimHostTime $Vm.mergeUntil
    $start = ConvertTo-SimHostTime $Vm.mergeSince
    if ($Now -lt $end) {
      $pct = 0
      if ($null -ne $start -and $end -gt $start) { $pct = [int](100 * ($Now - $start).TotalSeconds / ($end - $start).TotalSeconds) }
      return "Merging disks ($pct%)"
    }
  }
  return 'Operating normally'
}

function ConvertTo-SimHostVmObject([hashtable]$S, [hashtable]$Vm) {
  $now = [DateTime]::UtcNow
  $o = [Microsoft.HyperV.PowerShell.VirtualMachine]::new()
  $o.ComputerName = [string]$S.host.computerName
  $o.Name = $Vm.name
  $o.VMName = $Vm.name
  $o.Id = [guid]$Vm.id
  $o.VMId = [guid]$Vm.id
  $o.State = [string]$Vm.state
  $o.Status = Get-SimHostVmStatus $Vm $now
  $hb = Get-SimHostHeartbeat $S $Vm
  if ($null -ne $hb) { $o.Heartbeat = $hb }
  if ([string]$Vm.state -in @('Running', 'Paused')) { $o.Uptime = [TimeSpan]::FromSeconds([Math]::Floor((Get-SimHostElapsed $Vm.since $now))) } else { $o.Uptime = [TimeSpan]::Zero }
  $o.Generation = [int]$Vm.generation
  $o.Notes = [string]$Vm.notes
  $o.Path = [string]$Vm.path
  $o.ConfigurationLocation = [string]$Vm.path
  $o.SnapshotFileLocation = [string]$Vm.path
  $o.ProcessorCount = [long]$Vm.processorCount
  $o.MemoryStartup = [long]$Vm.memoryStartupBytes
  $o.MemoryAssigned = $(if ([string]$Vm.state -eq 'Running') { [long]$Vm.memoryStartupBytes } else { 0 })
  $o.DynamicMemoryEnabled = [bool]$Vm.dynamicMemory
  $o.AutomaticCheckpointsEnabled = [bool]$Vm.automaticCheckpointsEnabled
  $o.AutomaticStartAction = [string]$Vm.automaticStartAction
  $o.AutomaticStopAction = [string]$Vm.automaticStopAction
  $o.CheckpointType = [string]$Vm.checkpointType
  $o.Version = '10.0'
  $o.HardDrives = [Microsoft.HyperV.PowerShell.HardDiskDrive[]]@(@($Vm.hardDisks) | Where-Object { $_ } | ForEach-Object { ConvertTo-SimHostDriveObject $Vm $_ 'HardDiskDrive' })
  $o.DVDDrives = [Microsoft.HyperV.PowerShell.DvdDrive[]]@(@($Vm.dvds) | Where-Object { $_ } | ForEach-Object { ConvertTo-SimHostDriveObject $Vm $_ 'DvdDrive' })
  $o.NetworkAdapters = [Microsoft.HyperV.PowerShell.VMNetworkAdapter[]]@(@($Vm.adapters) | Where-Object { $_ } | ForEach-Object { ConvertTo-SimHostAdapterObject $Vm $_ })
  $o.ComPort1 = ConvertTo-SimHostComPortObject $Vm 1
  $o.ComPort2 = ConvertTo-SimHostComPortObject $Vm 2
  $last = @($Vm.snapshots | Where-Object { $_ }) | Select-Object -Last 1
  if ($null -ne $last) { $o.ParentSnapshotId = [guid]$last.id; $o.ParentSnapshotName = $last.name }
  return $o
}

# ---------------------------------------------------------------------------------------
# Get-VM, New-VM, Set-VM (+ Set-VMProcessor, Set-VMMemory), Remove-VM
# ---------------------------------------------------------------------------------------

Register-SimCmdlet 'Get-VM' {
  param($c)
  if ($c.P.ContainsKey('Id')) {
    $vm = Find-SimHostVm $c.S ([string]$c.P.Id)
    if ($null -eq $vm) { & $c.Error "Hyper-V was unable to find a virtual machine with ID `"$($c.P.Id)`"." 'ObjectNotFound' $c.P.Id; return }
    return ConvertTo-SimHostVmObject $c.S $vm
  }
  foreach ($vm in (Resolve-SimHostVms $c)) { ConvertTo-SimHostVmObject $c.S $vm }
}

Register-SimCmdlet 'New-VM' {
  param($c)
  $S = $c.S
  $name = [string]$c.P.Name
  if (-not $name) { $name = 'New Virtual Machine' }
  $generation = $(if ($c.P.ContainsKey('Generation')) { [int]$c.P.Generation } else { 1 })
  $memory = $(if ($c.P.ContainsKey('MemoryStartupBytes')) { [long]$c.P.MemoryStartupBytes } else { 1GB })
  if ($memory % 2MB -ne 0) { Stop-Sim "Failed to modify device 'Memory'. Invalid startup memory amount assigned for '$name'. The amount of memory you set must be a multiple of 2 MB." 'InvalidArgument' $name }
  if ($c.P.ContainsKey('SwitchName') -and $c.P.SwitchName) {
    if (@($S.switches | Where-Object { $_.name -eq $c.P.SwitchName }).Count -eq 0) { Stop-Sim "Hyper-V was unable to find a virtual switch with name `"$($c.P.SwitchName)`"." 'ObjectNotFound' $c.P.SwitchName }
  }
  if ($c.P.ContainsKey('NewVHDPath') -or $c.P.ContainsKey('VHDPath')) { Stop-Sim 'the simulated host makes disks with New-VHD and Add-VMHardDiskDrive only (New-VM -NewVHDPath/-VHDPath is not simulated)' 'NotImplemented' }
  $id = New-SimId
  # with -Path, Hyper-V keeps the VM in a folder named after it under that path
  $path = 'C:\ProgramData\Microsoft\Windows\Hyper-V'
  if ($c.P.ContainsKey('Path') -and $c.P.Path) { $path = ([string]$c.P.Path).TrimEnd('\') + '\' + $name }
  $local = Get-SimHostLocalPath $S $path
  if ($null -eq $local) { Stop-Sim "The system cannot find the path specified: $path" 'ObjectNotFound' $path }
  $config = Join-Path -Path $local -ChildPath 'Virtual Machines'
  [void][System.IO.Directory]::CreateDirectory($config)
  [System.IO.File]::WriteAllText((Join-Path -Path $config -ChildPath "$($id.ToUpperInvariant()).vmcx"), "LABCTL-SIM-VMCX $id`n")
  $adapterId = New-SimId
  $vm = @{
    id                          = $id
    name                        = $name
    notes                       = ''
    path                        = $path
    generation                  = $generation
    state                       = 'Off'
    since                       = Get-SimHostNowText
    memoryStartupBytes          = $memory
    # Hyper-V Manager's and New-VM's defaults, so a script that wants static memory and no
    # automatic checkpoints has to say so
    dynamicMemory               = $true
    processorCount              = 1
    automaticCheckpointsEnabled = $true
    automaticStartAction        = 'StartIfRunning'
    automaticStopAction         = 'Save'
    checkpointType              = 'Production'
    firmware                    = @{ secureBoot = $(if ($generation -eq 2) { 'On' } else { 'Off' }); template = 'MicrosoftWindows'; templateId = $script:TemplateIds.MicrosoftWindows; bootOrder = @() }
    hardDisks                   = @()
    dvds                        = @()
    adapters                    = @()
    comPorts                    = @{ '1' = ''; '2' = '' }
    snapshots                   = @()
    guest                       = @{ os = $null; phase = 'none'; problem = '' }
  }
  $adapter = @{ id = $adapterId; name = 'Network Adapter'; mac = (New-SimHostMac $S); staticMac = $false; switchName = $(if ($c.P.SwitchName) { [string]$c.P.SwitchName } else { '' }) }
  $vm.adapters = @($adapter)
  # a Generation 2 VM's boot order lists each drive and adapter as it is added
  $vm.firmware.bootOrder = @(@{ kind = 'Drive'; driveKind = 'NetworkAdapter'; adapterId = $adapterId })
  Add-SimHostItem $S 'vms' $vm
  ConvertTo-SimHostVmObject $S $vm
}

<# The rules for changing a running VM's processors and memory (Set-VM, Set-VMProcessor, Set-VMMemory). #>
function Assert-SimHostVmConfigurable([hashtable]$Vm, [string]$What, $Processors, $Memory, $Dynamic) {
  if (-not (Test-SimHostVmOn $Vm)) { return }
  if ($null -ne $Processors -and [long]$Processors -ne [long]$Vm.processorCount) {
    # Not in Microsoft's Set-VMProcessor page; Hyper-V Manager greys out the processor count
    # of a running VM and "the number of processors of a virtual machine cannot be changed
    # after the virtual machine has been started" (J. Savill, Mastering Windows Server 2016
    # Hyper-V, ch. 2). Modelled as a refusal.
    Stop-Sim "'$($Vm.name)' failed to modify settings: the number of virtual processors cannot be changed while the virtual machine is $($Vm.state) (turn it off first)." 'InvalidOperation' $Vm.name 'InvalidState'
  }
  if ($null -ne $Dynamic -and [bool]$Dynamic -ne [bool]$Vm.dynamicMemory) {
    Stop-Sim "'$($Vm.name)' failed to modify settings: Dynamic Memory cannot be turned on or off while the virtual machine is $($Vm.state) (turn it off first)." 'InvalidOperation' $Vm.name 'InvalidState'
  }
  if ($null -ne $Memory -and [long]$Memory -ne [long]$Vm.memoryStartupBytes) {
    # [ws2016-new] "Hot add and remove for network adapters and memory": the memory of a
    # running VM can change "even if you haven't enabled Dynamic Memory ... running Windows
    # Server 2016 or Windows 10"; other guests (and a guest still booting) cannot take it
    $g = $Vm.guest
    if ([bool]$Vm.dynamicMemory -or $null -eq $g -or $g.os -ne 'windows' -or $g.phase -notin @('setup', 'ready')) {
      Stop-Sim "'$($Vm.name)' failed to modify settings: the startup memory of a running virtual machine can only change for a Windows Server 2016 / Windows 10 guest that is up, with static memory (runtime memory resize)." 'InvalidOperation' $Vm.name 'InvalidState'
    }
  }
}

Register-SimCmdlet 'Set-VM' {
  param($c)
  $S = $c.S
  $dynamic = $null
  if ($c.P.ContainsKey('DynamicMemory')) { $dynamic = $true }
  if ($c.P.ContainsKey('StaticMemory')) { $dynamic = $false }
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $proc = $(if ($c.P.ContainsKey('ProcessorCount')) { $c.P.ProcessorCount } else { $null })
    $mem = $(if ($c.P.ContainsKey('MemoryStartupBytes')) { $c.P.MemoryStartupBytes } else { $null })
    Assert-SimHostVmConfigurable $vm 'Set-VM' $proc $mem $dynamic
    if ($null -ne $mem -and [long]$mem % 2MB -ne 0) { Stop-Sim "Failed to modify device 'Memory'. Invalid startup memory amount assigned for '$($vm.name)'. The amount of memory you set must be a multiple of 2 MB." 'InvalidArgument' $vm.name }
    if ($null -ne $proc) { $vm.processorCount = [long]$proc }
    if ($null -ne $mem) { $vm.memoryStartupBytes = [long]$mem }
    if ($null -ne $dynamic) { $vm.dynamicMemory = $dynamic }
    if ($c.P.ContainsKey('Notes')) { $vm.notes = [string]$c.P.Notes }
    if ($c.P.ContainsKey('AutomaticCheckpointsEnabled')) { $vm.automaticCheckpointsEnabled = [bool]$c.P.AutomaticCheckpointsEnabled }
    if ($c.P.ContainsKey('AutomaticStartAction')) { $vm.automaticStartAction = [string]$c.P.AutomaticStartAction }
    if ($c.P.ContainsKey('AutomaticStopAction')) { $vm.automaticStopAction = [string]$c.P.AutomaticStopAction }
    if ($c.P.ContainsKey('CheckpointType')) { $vm.checkpointType = [string]$c.P.CheckpointType }
    if ($c.P.ContainsKey('NewVMName')) { $vm.name = [string]$c.P.NewVMName }
    if ($c.P.Passthru) { ConvertTo-SimHostVmObject $S $vm }
  }
}

Register-SimCmdlet 'Set-VMProcessor' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $count = $(if ($c.P.ContainsKey('Count')) { $c.P.Count } else { $null })
    Assert-SimHostVmConfigurable $vm 'Set-VMProcessor' $count $null $null
    if ($null -ne $count) { $vm.processorCount = [long]$count }
  }
}

Register-SimCmdlet 'Set-VMMemory' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $mem = $(if ($c.P.ContainsKey('StartupBytes')) { $c.P.StartupBytes } else { $null })
    $dyn = $(if ($c.P.ContainsKey('DynamicMemoryEnabled')) { [bool]$c.P.DynamicMemoryEnabled } else { $null })
    Assert-SimHostVmConfigurable $vm 'Set-VMMemory' $null $mem $dyn
    if ($null -ne $mem) { $vm.memoryStartupBytes = [long]$mem }
    if ($null -ne $dyn) { $vm.dynamicMemory = $dyn }
  }
}

Register-SimCmdlet 'Remove-VM' {
  param($c)
  $S = $c.S
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    # Microsoft's Remove-VM page [remove-vm] does not describe a running VM; Hyper-V
    # Manager turns one off only after asking. The simulator refuses, so that a script that
    # removes VMs has to turn them off itself (Stop-VM -TurnOff) as labctl's remove-vm.ps1 does.
    if ([string]$vm.state -notin @('Off', 'Saved')) {
      Stop-Sim "The operation cannot be performed while the virtual machine '$($vm.name)' is in its current state ($($vm.state)): turn it off first (Stop-VM -TurnOff)." 'InvalidOperation' $vm.name 'InvalidState'
    }
    # [remove-vm] "deletes the virtual machine's configuration file, but does not delete any
    # virtual hard drives. If the virtual machine has any snapshots, these are deleted and
    # merged into the virtual hard disk files after the virtual machine is deleted."
    Merge-SimHostCheckpoints $S $vm
    $local = Get-SimHostLocalPath $S ([string]$vm.path)
    if ($null -ne $local) {
      $config = Join-Path -Path (Join-Path -Path $local -ChildPath 'Virtual Machines') -ChildPath "$($vm.id.ToUpperInvariant()).vmcx"
      if ([System.IO.File]::Exists($config)) { [System.IO.File]::Delete($config) }
    }
    $gone = $vm.id
    Select-SimHostItems $S 'vms' { param($v) $v.id -ne $gone }
    if ($c.P.Passthru) { ConvertTo-SimHostVmObject $S $vm }
  }
}

# ---------------------------------------------------------------------------------------
# Start, Stop, Resume, saved state
# ---------------------------------------------------------------------------------------

Register-SimCmdlet 'Start-VM' {
  param($c)
  $S = $c.S
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $state = [string]$vm.state
    if ($state -eq 'Running') { Stop-Sim "'$($vm.name)' failed to change state. The operation cannot be performed while the object is in its current state (Running)." 'InvalidOperation' $vm.name 'InvalidState' }
    if ($state -eq 'Paused') { Stop-Sim "'$($vm.name)' failed to change state: the virtual machine is paused (Resume-VM)." 'InvalidOperation' $vm.name 'InvalidState' }
    # what the VM needs to run: its memory, its disks' files, its switches
    $used = 0
    foreach ($other in @($S.vms)) { if ($null -ne $other -and $other.id -ne $vm.id -and (Test-SimHostVmOn $other)) { $used += [long]$other.memoryStartupBytes } }
    if ([long]$S.host.freeMemoryBytes - $used -lt [long]$vm.memoryStartupBytes) {
      Stop-Sim "'$($vm.name)' could not initialize. Not enough memory in the system to start the virtual machine $($vm.name)." 'ResourceUnavailable' $vm.name 'OutOfMemory'
    }
    foreach ($d in @($vm.hardDisks) + @($vm.dvds)) {
      if ($null -eq $d -or -not $d.path) { continue }
      $k = Get-SimHostFileKind $S $d.path
      if ($k.kind -eq 'missing') { Stop-Sim "'$($vm.name)' failed to start. ... The system cannot find the file specified: '$($d.path)'." 'ObjectNotFound' $vm.name }
      if ($k.kind -eq 'vhdx') {
        $disk = Get-SimHostDiskById $S $k.diskId
        if ($null -ne $disk -and $null -ne $disk.mounted) { Stop-Sim "'$($vm.name)' failed to start. ... $(Get-SimHostSharingMessage $d.path) (it is mounted on the host)" 'ResourceBusy' $vm.name 'ObjectInUse' }
        $why = Get-SimHostInUse $S $d.path $vm.id
        if ($why) { Stop-Sim "'$($vm.name)' failed to start. ... $(Get-SimHostSharingMessage $d.path) ($why)" 'ResourceBusy' $vm.name 'ObjectInUse' }
        $broken = Test-SimHostChain $S $disk $d.path
        if ($broken) { Stop-Sim "'$($vm.name)' failed to start. $broken" 'InvalidData' $vm.name 'ChainBroken' }
      }
    }
    # the VM writes to its disks (the leaves): a disk with children is no longer the parent they were made from
    foreach ($d in @($vm.hardDisks)) {
      if ($null -eq $d -or -not $d.path) { continue }
      $leaf = Get-SimHostDisk $S $d.path
      if ($null -ne $leaf) { $leaf.writeId = New-SimId }
    }
    foreach ($a in @($vm.adapters)) {
      if ($null -ne $a -and $a.switchName -and @($S.switches | Where-Object { $_.name -eq $a.switchName }).Count -eq 0) {
        Stop-Sim "'$($vm.name)' failed to start. Could not find Ethernet switch '$($a.switchName)'." 'ObjectNotFound' $vm.name
      }
    }
    if ($state -eq 'Saved') {
      # [save-vm] a saved VM resumes where it was, as a hibernated computer does: its guest
      # goes on from its saved memory (no boot: a Windows guest's services keep their state)
      $vm.state = 'Running'
      $vm.since = $(if ($null -ne $vm.savedRun -and $vm.savedRun.since) { (ConvertTo-SimHostTime $vm.savedRun.since).ToString('o') } else { Get-SimHostNowText })
      $vm.savedRun = $null
      if ($c.P.Passthru) { ConvertTo-SimHostVmObject $S $vm }
      continue
    }
    $vm.state = 'Running'
    $vm.since = Get-SimHostNowText
    Start-SimHostBoot $S $vm
    if ($c.P.Passthru) { ConvertTo-SimHostVmObject $S $vm }
  }
}

<# [save-vm] The VM's memory goes to disk: the run it was in is kept for Start-VM to resume. #>
function Save-SimHostVm([hashtable]$Vm) {
  $Vm.savedRun = @{ since = (ConvertTo-SimHostTime $Vm.since).ToString('o'); at = Get-SimHostNowText }
  Stop-SimHostGuest $Vm 'Saved'
}

<# A guest's OS stops: the VM is off (or saved), nothing runs in it. #>
function Stop-SimHostGuest([hashtable]$Vm, [string]$State) {
  $Vm.state = $State
  $Vm.since = Get-SimHostNowText
  if ($null -eq $Vm.guest) { $Vm.guest = @{} }
  if ($State -eq 'Off') {
    $Vm.guest.phase = 'none'
    $Vm.guest.problem = ''
    $Vm.guest.kernelUp = $false
  }
}

Register-SimCmdlet 'Stop-VM' {
  param($c)
  $S = $c.S
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $state = [string]$vm.state
    if ($state -eq 'Off') { continue }
    if ($c.P.Save) {
      if ($state -eq 'Saved') { continue }
      Save-SimHostVm $vm
      if ($c.P.Passthru) { ConvertTo-SimHostVmObject $S $vm }
      continue
    }
    # [stop-vm] -TurnOff cuts the power; a shutdown of a saved VM discards its saved state
    if ($state -eq 'Saved') { $vm.savedRun = $null }
    if (-not $c.P.TurnOff) {
      # a shutdown goes through the guest's shutdown integration service; without it only
      # -Force turns the VM off
      $g = $vm.guest
      $up = $null -ne $g -and $g.phase -in @('ready', 'setup')
      if (-not $up -and -not $c.P.Force) {
        Stop-Sim "'$($vm.name)' failed to shut down: the shutdown integration service is not available in the guest (use -TurnOff or -Force)." 'InvalidOperation' $vm.name 'InvalidState'
      }
    }
    Stop-SimHostGuest $vm 'Off'
    if ($c.P.Passthru) { ConvertTo-SimHostVmObject $S $vm }
  }
}

Register-SimCmdlet 'Save-VM' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $state = [string]$vm.state
    # not stated on the Save-VM page; Hyper-V Manager offers Save only for a running or paused VM: modelled strictly
    if ($state -notin @('Running', 'Paused')) {
      Stop-Sim "'$($vm.name)' failed to change state. The operation cannot be performed while the object is in its current state ($state)." 'InvalidOperation' $vm.name 'InvalidState'
    }
    Save-SimHostVm $vm
    if ($c.P.Passthru) { ConvertTo-SimHostVmObject $c.S $vm }
  }
}

Register-SimCmdlet 'Resume-VM' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    if ([string]$vm.state -ne 'Paused') { Stop-Sim "'$($vm.name)' failed to change state. The operation cannot be performed while the object is in its current state ($($vm.state))." 'InvalidOperation' $vm.name 'InvalidState' }
    $vm.state = 'Running'
    if ($c.P.Passthru) { ConvertTo-SimHostVmObject $c.S $vm }
  }
}

Register-SimCmdlet 'Remove-VMSavedState' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    if ([string]$vm.state -ne 'Saved') { Stop-Sim "'$($vm.name)' has no saved state to remove (it is $($vm.state))." 'InvalidOperation' $vm.name 'InvalidState' }
    $vm.savedRun = $null
    Stop-SimHostGuest $vm 'Off'
  }
}

# ---------------------------------------------------------------------------------------
# firmware: Secure Boot and boot order
# ---------------------------------------------------------------------------------------

function Get-SimHostDrive([hashtable]$Vm, [string]$Kind, [int]$Controller, [int]$Location) {
  $list = $(if ($Kind -eq 'DvdDrive') { $Vm.dvds } else { $Vm.hardDisks })
  return @($list | Where-Object { $null -ne $_ -and [int]$_.controller -eq $Controller -and [int]$_.location -eq $Location }) | Select-Object -First 1
}

function ConvertTo-SimHostBootSource([hashtable]$Vm, [hashtable]$Entry) {
  $o = [Microsoft.HyperV.PowerShell.VMBootSource]::new()
  if ($Entry.kind -eq 'File') {
    $o.BootType = 'File'
    $o.Description = [string]$Entry.description
    $o.FirmwarePath = [string]$Entry.path
    return $o
  }
  if ($Entry.driveKind -eq 'NetworkAdapter') {
    $a = @($Vm.adapters | Where-Object { $null -ne $_ -and $_.id -eq $Entry.adapterId }) | Select-Object -First 1
    $o.BootType = 'Network'
    $o.Description = 'EFI Network'
    if ($null -ne $a) { $o.Device = ConvertTo-SimHostAdapterObject $Vm $a }
    return $o
  }
  $d = Get-SimHostDrive $Vm $Entry.driveKind ([int]$Entry.controller) ([int]$Entry.location)
  $o.BootType = 'Drive'
  $o.Description = 'EFI SCSI Device'
  if ($null -ne $d) { $o.Device = ConvertTo-SimHostDriveObject $Vm $d $Entry.driveKind }
  return $o
}

<# The state's boot entry for a device object (a drive or a VM network adapter). #>
function ConvertTo-SimHostBootEntry([hashtable]$Vm, $Device) {
  if ($null -eq $Device) { Stop-Sim 'no boot device given' 'InvalidArgument' }
  if ($Device -is [Microsoft.HyperV.PowerShell.VMNetworkAdapterBase]) {
    $aid = ([string]$Device.Id).Split('\')[-1]
    $a = @($Vm.adapters | Where-Object { $null -ne $_ -and $_.id.ToUpperInvariant() -eq $aid.ToUpperInvariant() }) | Select-Object -First 1
    if ($null -eq $a) { Stop-Sim "the network adapter is not one of '$($Vm.name)'s" 'InvalidArgument' $Vm.name }
    return @{ kind = 'Drive'; driveKind = 'NetworkAdapter'; adapterId = $a.id }
  }
  if ($Device -is [Microsoft.HyperV.PowerShell.Drive]) {
    if ([string]$Device.VMId -ne [string]$Vm.id) { Stop-Sim "the drive belongs to another virtual machine ('$($Device.VMName)')" 'InvalidArgument' $Vm.name }
    $kind = $(if ($Device -is [Microsoft.HyperV.PowerShell.DvdDrive]) { 'DvdDrive' } else { 'HardDiskDrive' })
    if ($null -eq (Get-SimHostDrive $Vm $kind $Device.ControllerNumber $Device.ControllerLocation)) { Stop-Sim "'$($Vm.name)' has no such drive (it was removed)" 'ObjectNotFound' $Vm.name }
    return @{ kind = 'Drive'; driveKind = $kind; controller = [int]$Device.ControllerNumber; location = [int]$Device.ControllerLocation }
  }
  if ($Device -is [Microsoft.HyperV.PowerShell.VMBootSource]) { return ConvertTo-SimHostBootEntry $Vm $Device.Device }
  Stop-Sim "not a boot device: $($Device.GetType().FullName)" 'InvalidArgument'
}

function Test-SimHostSameEntry([hashtable]$A, [hashtable]$B) {
  if ($A.kind -ne $B.kind) { return $false }
  if ($A.kind -eq 'File') { return $A.description -eq $B.description -and $A.path -eq $B.path }
  if ($A.driveKind -ne $B.driveKind) { return $false }
  if ($A.driveKind -eq 'NetworkAdapter') { return $A.adapterId -eq $B.adapterId }
  return [int]$A.controller -eq [int]$B.controller -and [int]$A.location -eq [int]$B.location
}

function ConvertTo-SimHostFirmwareObject([hashtable]$Vm) {
  $fw = $Vm.firmware
  $o = [Microsoft.HyperV.PowerShell.VMFirmware]::new()
  $o.ComputerName = 'HVHOST'
  $o.VMName = $Vm.name
  $o.VMId = [guid]$Vm.id
  $o.SecureBoot = [string]$fw.secureBoot
  $o.SecureBootTemplate = [string]$fw.template
  if ($fw.templateId) { $o.SecureBootTemplateId = [guid]$fw.templateId }
  $o.BootOrder = [Microsoft.HyperV.PowerShell.VMBootSource[]]@(@($fw.bootOrder) | Where-Object { $_ } | ForEach-Object { ConvertTo-SimHostBootSource $Vm $_ })
  $o.PreferredNetworkBootProtocol = 'IPv4'
  $o.ConsoleMode = 'Default'
  $o.PauseAfterBootFailure = 'Off'
  return $o
}

Register-SimCmdlet 'Get-VMFirmware' {
  param($c)
  if ($c.P.ContainsKey('VMSnapshot')) { Stop-Sim 'Get-VMFirmware -VMSnapshot is not simulated' 'NotImplemented' }
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    if ([int]$vm.generation -ne 2) { & $c.Error "'$($vm.name)' is a Generation 1 virtual machine: it has no UEFI firmware settings." 'InvalidOperation' $vm.name; continue }
    ConvertTo-SimHostFirmwareObject $vm
  }
}

Register-SimCmdlet 'Set-VMFirmware' {
  param($c)
  $S = $c.S
  $vms = $(if ($c.P.ContainsKey('VMFirmware')) { @($c.P.VMFirmware | ForEach-Object { Find-SimHostVm $S ([string]$_.VMId) }) } else { Resolve-SimHostVms $c -Strict })
  foreach ($vm in $vms) {
    if ($null -eq $vm) { Stop-Sim 'the virtual machine of that firmware object no longer exists' 'ObjectNotFound' }
    if ([int]$vm.generation -ne 2) { Stop-Sim "'$($vm.name)' is a Generation 1 virtual machine: it has no UEFI firmware settings." 'InvalidOperation' $vm.name }
    # Microsoft's Set-VMFirmware page does not say it; Hyper-V Manager greys out a running
    # VM's Firmware and Security pages, and [ws2016-new] has the Secure Boot template set
    # "before you boot the virtual machine". Modelled strictly: any firmware change of a VM
    # that is not off fails, naming the VM.
    if ([string]$vm.state -ne 'Off') {
      Stop-Sim "'$($vm.name)' failed to modify settings: firmware settings (Secure Boot, template, boot order) cannot be changed while the virtual machine is $($vm.state); turn it off first." 'InvalidOperation' $vm.name 'InvalidState'
    }
    $fw = $vm.firmware
    if ($c.P.ContainsKey('EnableSecureBoot')) { $fw.secureBoot = [string]$c.P.EnableSecureBoot }
    if ($c.P.ContainsKey('SecureBootTemplate')) {
      $name = [string]$c.P.SecureBootTemplate
      # [gen2-sec] the templates: Microsoft Windows, Microsoft UEFI Certificate Authority,
      # Open Source Shielded VM. config.failures.rejectTemplateName: a host that refuses
      # template names (labctl's set-firmware.ps1 then gives the template's id)
      $key = @($script:TemplateIds.Keys | Where-Object { $_ -eq $name }) | Select-Object -First 1
      if ($null -eq $key -or (Get-SimHostFailures $S 'rejectTemplateName').Count -gt 0) {
        Stop-Sim "'$($vm.name)' failed to modify settings: the secure boot template '$name' was not found." 'InvalidArgument' $name 'InvalidParameter'
      }
      $fw.template = $key
      $fw.templateId = $script:TemplateIds[$key]
    }
    if ($c.P.ContainsKey('SecureBootTemplateId')) {
      $tid = ([string]$c.P.SecureBootTemplateId).ToLowerInvariant()
      $key = @($script:TemplateIds.Keys | Where-Object { $script:TemplateIds[$_] -eq $tid }) | Select-Object -First 1
      if ($null -eq $key) { Stop-Sim "'$($vm.name)' failed to modify settings: no secure boot template has the id $tid." 'InvalidArgument' $tid }
      $fw.template = $key
      $fw.templateId = $tid
    }
    if ($c.P.ContainsKey('BootOrder')) {
      # "Any existing boot entries not specified by this command will be removed" (Set-VMFirmware, example 3)
      $fw.bootOrder = @(@($c.P.BootOrder) | ForEach-Object { ConvertTo-SimHostBootEntry $vm $_ })
    }
    if ($c.P.ContainsKey('FirstBootDevice')) {
      $first = ConvertTo-SimHostBootEntry $vm $c.P.FirstBootDevice
      $rest = @(@($fw.bootOrder) | Where-Object { $null -ne $_ -and -not (Test-SimHostSameEntry $_ $first) })
      $fw.bootOrder = @($first) + $rest
    }
    if ($c.P.Passthru) { ConvertTo-SimHostFirmwareObject $vm }
  }
}

# ---------------------------------------------------------------------------------------
# drives: hard disks and DVDs on SCSI controller 0
# ---------------------------------------------------------------------------------------

function Get-SimHostFreeLocation([hashtable]$Vm) {
  $used = @(@($Vm.hardDisks) + @($Vm.dvds) | Where-Object { $null -ne $_ } | ForEach-Object { [int]$_.location })
  for ($i = 0; $i -lt 64; $i++) { if ($used -notcontains $i) { return $i } }
  Stop-Sim "'$($Vm.name)': SCSI controller 0 has no free location" 'LimitsExceeded' $Vm.name
}

function Select-SimHostDrives($c, [hashtable]$Vm, [string]$Kind) {
  $list = $(if ($Kind -eq 'DvdDrive') { $Vm.dvds } else { $Vm.hardDisks })
  foreach ($d in @($list)) {
    if ($null -eq $d) { continue }
    if ($c.P.ContainsKey('ControllerNumber') -and [int]$c.P.ControllerNumber -ne [int]$d.controller) { continue }
    if ($c.P.ContainsKey('ControllerLocation') -and [int]$c.P.ControllerLocation -ne [int]$d.location) { continue }
    if ($c.P.ContainsKey('ControllerType') -and [string]$c.P.ControllerType -ne 'SCSI') { continue }
    ConvertTo-SimHostDriveObject $Vm $d $Kind
  }
}

Register-SimCmdlet 'Get-VMHardDiskDrive' {
  param($c)
  if ($c.P.ContainsKey('VMSnapshot')) {
    foreach ($snap in @($c.P.VMSnapshot)) {
      $vm = Find-SimHostVm $c.S ([string]$snap.VMId)
      if ($null -eq $vm) { continue }
      $s = @($vm.snapshots | Where-Object { $null -ne $_ -and $_.id -eq [string]$snap.Id }) | Select-Object -First 1
      if ($null -eq $s) { & $c.Error "the checkpoint '$($snap.Name)' of '$($vm.name)' no longer exists" 'ObjectNotFound' $snap.Name; continue }
      foreach ($d in @($s.hardDisks)) { if ($null -ne $d) { ConvertTo-SimHostDriveObject $vm $d 'HardDiskDrive' $s } }
    }
    return
  }
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) { Select-SimHostDrives $c $vm 'HardDiskDrive' }
}

Register-SimCmdlet 'Get-VMDvdDrive' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) { Select-SimHostDrives $c $vm 'DvdDrive' }
}

Register-SimCmdlet 'Add-VMHardDiskDrive' {
  param($c)
  $S = $c.S
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $path = [string]$c.P.Path
    if (-not $path) { Stop-Sim 'Add-VMHardDiskDrive without -Path (a passthrough disk) is not simulated' 'NotImplemented' }
    $k = Get-SimHostFileKind $S $path
    if ($k.kind -eq 'missing') { Stop-Sim "Failed to add device 'Synthetic Disk Drive'. '$($vm.name)': the system cannot find the file specified: '$path'." 'ObjectNotFound' $path }
    if ($k.kind -ne 'vhdx') { Stop-Sim "Failed to add device 'Synthetic Disk Drive'. '$path' is not a virtual hard disk file." 'InvalidArgument' $path }
    $disk = Get-SimHostDiskById $S $k.diskId
    if ($null -ne $disk -and $null -ne $disk.parentId -and $null -eq (Get-SimHostDiskById $S $disk.parentId)) { Stop-Sim "Failed to add device 'Synthetic Disk Drive'. The chain of virtual hard disks is broken: the parent of '$path' is missing." 'InvalidData' $path }
    $why = Get-SimHostInUse $S $path
    if ($why) { Stop-Sim "Failed to add device 'Synthetic Disk Drive'. $(Get-SimHostSharingMessage $path) ($why)" 'ResourceBusy' $path 'ObjectInUse' }
    $loc = $(if ($c.P.ContainsKey('ControllerLocation')) { [int]$c.P.ControllerLocation } else { Get-SimHostFreeLocation $vm })
    $drive = @{ controller = 0; location = $loc; path = $path }
    Add-SimHostItem $vm 'hardDisks' $drive
    Add-SimHostItem $vm.firmware 'bootOrder' @{ kind = 'Drive'; driveKind = 'HardDiskDrive'; controller = 0; location = $loc }
    if ($c.P.Passthru) { ConvertTo-SimHostDriveObject $vm $drive 'HardDiskDrive' }
  }
}

Register-SimCmdlet 'Add-VMDvdDrive' {
  param($c)
  $S = $c.S
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    if ([int]$vm.generation -eq 2 -and [string]$vm.state -ne 'Off') {
      # not verified against a Microsoft page; modelled strictly: labctl adds discs to a VM that is off
      Stop-Sim "Failed to add device 'Virtual CD/DVD Disk' to '$($vm.name)': a DVD drive can only be added while the virtual machine is off (it is $($vm.state))." 'InvalidOperation' $vm.name 'InvalidState'
    }
    $path = [string]$c.P.Path
    if ($path) {
      $k = Get-SimHostFileKind $S $path
      if ($k.kind -eq 'missing') { Stop-Sim "Failed to add device 'Virtual CD/DVD Disk'. '$($vm.name)': the system cannot find the file specified: '$path'." 'ObjectNotFound' $path }
    }
    $loc = $(if ($c.P.ContainsKey('ControllerLocation')) { [int]$c.P.ControllerLocation } else { Get-SimHostFreeLocation $vm })
    $drive = @{ controller = 0; location = $loc; path = $path }
    Add-SimHostItem $vm 'dvds' $drive
    Add-SimHostItem $vm.firmware 'bootOrder' @{ kind = 'Drive'; driveKind = 'DvdDrive'; controller = 0; location = $loc }
    if ($c.P.Passthru) { ConvertTo-SimHostDriveObject $vm $drive 'DvdDrive' }
  }
}

Register-SimCmdlet 'Remove-VMDvdDrive' {
  param($c)
  $S = $c.S
  $targets = @()
  if ($c.P.ContainsKey('VMDvdDrive')) {
    foreach ($d in @($c.P.VMDvdDrive)) { $targets += , @((Find-SimHostVm $S ([string]$d.VMId)), [int]$d.ControllerNumber, [int]$d.ControllerLocation, $d.VMName) }
  } else {
    foreach ($vm in (Resolve-SimHostVms $c -Strict)) { $targets += , @($vm, [int]$c.P.ControllerNumber, [int]$c.P.ControllerLocation, $vm.name) }
  }
  foreach ($t in $targets) {
    $vm = $t[0]
    if ($null -eq $vm) { Stop-Sim "Hyper-V was unable to find the virtual machine '$($t[3])' of that drive." 'ObjectNotFound' $t[3] }
    if ([string]$vm.state -ne 'Off') { Stop-Sim "Failed to remove device 'Virtual CD/DVD Disk' from '$($vm.name)': the virtual machine is $($vm.state) (a DVD drive is removed while it is off)." 'InvalidOperation' $vm.name 'InvalidState' }
    $ctl = $t[1]; $loc = $t[2]
    if ($null -eq (Get-SimHostDrive $vm 'DvdDrive' $ctl $loc)) { Stop-Sim "'$($vm.name)' has no DVD drive at SCSI $ctl,$loc" 'ObjectNotFound' $vm.name }
    Select-SimHostItems $vm 'dvds' { param($d) -not ([int]$d.controller -eq $ctl -and [int]$d.location -eq $loc) }
    Select-SimHostItems $vm.firmware 'bootOrder' { param($e) -not ($e.driveKind -eq 'DvdDrive' -and [int]$e.controller -eq $ctl -and [int]$e.location -eq $loc) }
  }
}

# ---------------------------------------------------------------------------------------
# network adapters of VMs (the host's own, -ManagementOS, are in host-network.ps1)
# ---------------------------------------------------------------------------------------

function Find-SimHostVmAdapter([hashtable]$S, $Object) {
  $vm = Find-SimHostVm $S ([string]$Object.VMId)
  if ($null -eq $vm) { return $null, $null }
  $aid = ([string]$Object.Id).Split('\')[-1].ToUpperInvariant()
  $a = @($vm.adapters | Where-Object { $null -ne $_ -and ([string]$_.id).ToUpperInvariant() -eq $aid }) | Select-Object -First 1
  return $vm, $a
}

Register-SimCmdlet 'Add-VMNetworkAdapter' {
  param($c)
  $S = $c.S
  if ($c.P.ManagementOS) { Stop-Sim 'Add-VMNetworkAdapter -ManagementOS is not simulated (labctl uses the adapter New-VMSwitch makes)' 'NotImplemented' }
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    # [ws2016-new] network adapters of a Generation 2 VM may be added while it runs
    if ([int]$vm.generation -ne 2 -and (Test-SimHostVmOn $vm)) { Stop-Sim "'$($vm.name)' is running: a Generation 1 virtual machine gets network adapters while it is off." 'InvalidOperation' $vm.name 'InvalidState' }
    $switch = [string]$c.P.SwitchName
    if ($switch -and @($S.switches | Where-Object { $_.name -eq $switch }).Count -eq 0) { Stop-Sim "Hyper-V was unable to find a virtual switch with name `"$switch`"." 'ObjectNotFound' $switch }
    $mac = $(if ($c.P.StaticMacAddress) { ConvertTo-SimHostMac $c.P.StaticMacAddress } else { New-SimHostMac $S })
    if ($mac.Length -ne 12) { Stop-Sim "Invalid MAC address '$($c.P.StaticMacAddress)'." 'InvalidArgument' $c.P.StaticMacAddress }
    $a = @{ id = New-SimId; name = $(if ($c.P.Name) { [string]$c.P.Name } else { 'Network Adapter' }); mac = $mac; staticMac = [bool]$c.P.StaticMacAddress; switchName = $switch }
    Add-SimHostItem $vm 'adapters' $a
    Add-SimHostItem $vm.firmware 'bootOrder' @{ kind = 'Drive'; driveKind = 'NetworkAdapter'; adapterId = $a.id }
    if ($c.P.Passthru) { ConvertTo-SimHostAdapterObject $vm $a }
  }
}

Register-SimCmdlet 'Connect-VMNetworkAdapter' {
  param($c)
  $S = $c.S
  $switch = $(if ($c.P.ContainsKey('VMSwitch')) { [string]$c.P.VMSwitch.Name } else { [string]$c.P.SwitchName })
  if ($switch -and @($S.switches | Where-Object { $_.name -eq $switch }).Count -eq 0) { Stop-Sim "Hyper-V was unable to find a virtual switch with name `"$switch`"." 'ObjectNotFound' $switch }
  $pairs = @()
  if ($c.P.ContainsKey('VMNetworkAdapter')) {
    foreach ($o in @($c.P.VMNetworkAdapter)) { $vm, $a = Find-SimHostVmAdapter $S $o; if ($null -eq $a) { Stop-Sim "the network adapter of '$($o.VMName)' no longer exists" 'ObjectNotFound' $o.VMName }; $pairs += , @($vm, $a) }
  } else {
    foreach ($vm in (Resolve-SimHostVms $c -Strict)) { foreach ($a in @($vm.adapters)) { if ($null -ne $a -and (-not $c.P.Name -or (Test-SimHostName $a.name $c.P.Name))) { $pairs += , @($vm, $a) } } }
  }
  foreach ($p in $pairs) { $p[1].switchName = $switch; if ($c.P.Passthru) { ConvertTo-SimHostAdapterObject $p[0] $p[1] } }
}

Register-SimCmdlet 'Set-VMNetworkAdapter' {
  param($c)
  $S = $c.S
  if ($c.P.ManagementOS) { return }
  $pairs = @()
  if ($c.P.ContainsKey('VMNetworkAdapter')) {
    foreach ($o in @($c.P.VMNetworkAdapter)) {
      if ($o.IsManagementOs) { continue }
      $vm, $a = Find-SimHostVmAdapter $S $o
      if ($null -eq $a) { Stop-Sim "the network adapter of '$($o.VMName)' no longer exists" 'ObjectNotFound' $o.VMName }
      $pairs += , @($vm, $a)
    }
  } else {
    foreach ($vm in (Resolve-SimHostVms $c -Strict)) { foreach ($a in @($vm.adapters)) { if ($null -ne $a -and (-not $c.P.Name -or (Test-SimHostName $a.name $c.P.Name))) { $pairs += , @($vm, $a) } } }
  }
  foreach ($p in $pairs) {
    $vm = $p[0]; $a = $p[1]
    if ($c.P.ContainsKey('StaticMacAddress')) {
      $mac = ConvertTo-SimHostMac $c.P.StaticMacAddress
      if ($mac.Length -ne 12) { Stop-Sim "Invalid MAC address '$($c.P.StaticMacAddress)'." 'InvalidArgument' $c.P.StaticMacAddress }
      if ($mac -ne (ConvertTo-SimHostMac $a.mac) -and (Test-SimHostVmOn $vm)) {
        # not verified against a Microsoft page: Hyper-V Manager greys out the MAC of a running VM's adapter
        Stop-Sim "'$($vm.name)' failed to modify settings: the MAC address of a network adapter cannot change while the virtual machine is $($vm.state)." 'InvalidOperation' $vm.name 'InvalidState'
      }
      $a.mac = $mac
      $a.staticMac = $true
    }
    if ($c.P.DynamicMacAddress) { $a.staticMac = $false }
    if ($c.P.Passthru) { ConvertTo-SimHostAdapterObject $vm $a }
  }
}

# ---------------------------------------------------------------------------------------
# COM ports
# ---------------------------------------------------------------------------------------

Register-SimCmdlet 'Get-VMComPort' {
  param($c)
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $numbers = $(if ($c.P.ContainsKey('Number')) { @([int]$c.P.Number) } else { @(1, 2) })
    foreach ($n in $numbers) {
      if ($n -lt 1 -or $n -gt 2) { & $c.Error "'$($vm.name)' has no COM port $n" 'ObjectNotFound' $n; continue }
      ConvertTo-SimHostComPortObject $vm $n
    }
  }
}

Register-SimCmdlet 'Set-VMComPort' {
  param($c)
  $targets = @()
  if ($c.P.ContainsKey('VMComPort')) { foreach ($o in @($c.P.VMComPort)) { $targets += , @((Find-SimHostVm $c.S ([string]$o.VMId)), [int]([string]$o.Name -replace '\D', '')) } }
  else { foreach ($vm in (Resolve-SimHostVms $c -Strict)) { $targets += , @($vm, [int]$c.P.Number) } }
  foreach ($t in $targets) {
    $vm = $t[0]; $n = $t[1]
    if ($null -eq $vm) { Stop-Sim 'the virtual machine of that COM port no longer exists' 'ObjectNotFound' }
    if ($n -lt 1 -or $n -gt 2) { Stop-Sim "'$($vm.name)' has no COM port $n (1 or 2)" 'InvalidArgument' $n }
    if ($null -eq $vm.comPorts) { $vm.comPorts = @{} }
    $vm.comPorts["$n"] = [string]$c.P.Path
    if ($c.P.Passthru) { ConvertTo-SimHostComPortObject $vm $n }
  }
}

# ---------------------------------------------------------------------------------------
# checkpoints (snapshots): a checkpoint's disks are the .vhdx files as they were; the VM runs
# on a .avhdx over each. Removing the last checkpoint merges the .avhdx back, which takes a
# while (Status "Merging disks (n%)"); Remove-VM merges too [remove-vm].
# ---------------------------------------------------------------------------------------

function ConvertTo-SimHostSnapshotObject([hashtable]$Vm, [hashtable]$Snap) {
  $o = [Microsoft.HyperV.PowerShell.VMSnapshot]::new()
  $o.ComputerName = 'HVHOST'
  $o.Name = $Snap.name
  $o.Id = [guid]$Snap.id
  $o.VMName = $Vm.name
  $o.VMId = [guid]$Vm.id
  $o.State = $(if ($Snap.state) { [string]$Snap.state } else { 'Off' })
  $o.SnapshotType = 'Standard'
  $o.CreationTime = $(if ($Snap.created) { (ConvertTo-SimHostTime $Snap.created).ToLocalTime() } else { [DateTime]::Now })
  $o.Generation = [int]$Vm.generation
  $o.Path = [string]$Vm.path
  $o.HardDrives = [Microsoft.HyperV.PowerShell.HardDiskDrive[]]@(@($Snap.hardDisks) | Where-Object { $_ } | ForEach-Object { ConvertTo-SimHostDriveObject $Vm $_ 'HardDiskDrive' $Snap })
  return $o
}

Register-SimCmdlet 'Get-VMSnapshot' {
  param($c)
  if ($c.P.ContainsKey('Id')) {
    foreach ($vm in @($c.S.vms)) { foreach ($s in @($vm.snapshots)) { if ($null -ne $s -and $s.id -eq [string]$c.P.Id) { return ConvertTo-SimHostSnapshotObject $vm $s } } }
    & $c.Error "Hyper-V was unable to find a checkpoint with ID $($c.P.Id)." 'ObjectNotFound' $c.P.Id
    return
  }
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    foreach ($s in @($vm.snapshots)) {
      if ($null -eq $s) { continue }
      if ($c.P.Name -and -not (Test-SimHostName $s.name $c.P.Name)) { continue }
      ConvertTo-SimHostSnapshotObject $vm $s
    }
  }
}

Register-SimCmdlet 'Remove-VMSnapshot' {
  param($c)
  $S = $c.S
  $targets = @()
  if ($c.P.ContainsKey('VMSnapshot')) {
    foreach ($o in @($c.P.VMSnapshot)) { $targets += , @((Find-SimHostVm $S ([string]$o.VMId)), [string]$o.Id, $o.Name) }
  } else {
    foreach ($vm in (Resolve-SimHostVms $c -Strict)) { foreach ($s in @($vm.snapshots)) { if ($null -ne $s -and (-not $c.P.Name -or (Test-SimHostName $s.name $c.P.Name))) { $targets += , @($vm, $s.id, $s.name) } } }
  }
  foreach ($t in $targets) {
    $vm = $t[0]; $sid = $t[1]
    if ($null -eq $vm) { Stop-Sim "the virtual machine of checkpoint '$($t[2])' no longer exists" 'ObjectNotFound' $t[2] }
    if (@($vm.snapshots | Where-Object { $null -ne $_ -and $_.id -eq $sid }).Count -eq 0) { & $c.Error "the checkpoint '$($t[2])' of '$($vm.name)' no longer exists" 'ObjectNotFound' $t[2]; continue }
    Select-SimHostItems $vm 'snapshots' { param($s) $s.id -ne $sid }
    if (@($vm.snapshots | Where-Object { $_ }).Count -eq 0) {
      $now = [DateTime]::UtcNow
      $vm.mergeSince = $now.ToString('o')
      $vm.mergeUntil = $now.AddSeconds((Get-SimHostTiming $S 'mergeSeconds' 0.3)).ToString('o')
    }
  }
}

<#
  Replaces, in a guest's state, every reference to one disk by another: its id (bootDiskId)
  and the folders of its partitions (windowsRoot, drives.C). $Map: old disk id -> new disk id.
#>
function Convert-SimHostDiskRefs($Value, [hashtable]$Map) {
  if ($null -eq $Value) { return $null }
  if ($Value -is [string]) {
    $v = $Value
    foreach ($old in $Map.Keys) {
      if ($v -eq $old) { return [string]$Map[$old] }
      $v = $v.Replace("disks/$old/", "disks/$($Map[$old])/").Replace("disks\$old\", "disks\$($Map[$old])\")
      if ($v.EndsWith("disks/$old")) { $v = $v.Substring(0, $v.Length - $old.Length) + $Map[$old] }
    }
    return $v
  }
  if ($Value -is [System.Collections.IDictionary]) {
    $out = @{}
    foreach ($k in @($Value.Keys)) { $out[$k] = Convert-SimHostDiskRefs $Value[$k] $Map }
    return $out
  }
  if ($Value -is [System.Collections.IList]) { return , @($Value | ForEach-Object { Convert-SimHostDiskRefs $_ $Map }) }
  return $Value
}

<# A deep copy of part of the state (the state is plain JSON). #>
function Copy-SimHostValue($Value) {
  if ($null -eq $Value) { return $null }
  return ConvertFrom-Json -InputObject (ConvertTo-Json -InputObject $Value -Depth 64 -Compress) -AsHashtable
}

<# Replaces the files of a disk's partitions with another disk's (a copy; $Move moves them instead). #>
function Copy-SimHostPartitionFiles([hashtable]$From, [hashtable]$To, [switch]$Move) {
  foreach ($p in @($From.partitions)) {
    if ($null -eq $p) { continue }
    $src = Get-SimPartitionRoot $From.id ([int]$p.number)
    $dst = Get-SimPartitionRoot $To.id ([int]$p.number)
    Get-ChildItem -LiteralPath $dst -Force | Remove-Item -Recurse -Force
    foreach ($item in @(Get-ChildItem -LiteralPath $src -Force)) {
      if ($Move) { Move-Item -LiteralPath $item.FullName -Destination $dst -Force }
      else { Copy-Item -LiteralPath $item.FullName -Destination $dst -Recurse -Force }
    }
  }
}

<#
  [checkpoints] A new .avhdx next to a disk, over it: it starts with the disk's partitions and
  files, as a differencing disk does (host-disk.ps1, New-VHD), and the VM writes to it from now on.
#>
function New-SimHostCheckpointDisk([hashtable]$S, [hashtable]$Vm, [hashtable]$Parent, [string]$SnapshotId) {
  $parentLocal = Get-SimHostLocalPath $S ([string]$Parent.path)
  $base = [System.IO.Path]::GetFileNameWithoutExtension($parentLocal) -replace '_[0-9A-Fa-f-]{36}$', ''
  $name = '{0}_{1}.avhdx' -f $base, $SnapshotId.ToUpperInvariant()
  $path = ([string]$Parent.path).Substring(0, ([string]$Parent.path).Length - [System.IO.Path]::GetFileName($parentLocal).Length) + $name
  $id = New-SimId
  $parts = @()
  foreach ($p in @($Parent.partitions)) {
    if ($null -eq $p) { continue }
    $copy = @{}; foreach ($k in $p.Keys) { $copy[$k] = $p[$k] }
    $copy.letter = $null
    $parts += $copy
  }
  $disk = @{ id = $id; path = $path; type = 'Differencing'; sizeBytes = [long]$Parent.sizeBytes; parentId = $Parent.id; signature = $null; partitionStyle = $Parent.partitionStyle; partitions = $parts; mounted = $null; os = $Parent.os; checkpoint = $true; vmId = $Vm.id }
  Copy-SimHostPartitionFiles $Parent $disk
  [System.IO.File]::WriteAllText((Join-Path -Path (Split-Path -Path $parentLocal -Parent) -ChildPath $name), "LABCTL-SIM-VHDX $id`n")
  Add-SimHostItem $S 'disks' $disk
  return $disk
}

<# Deletes a checkpoint disk (.avhdx file, its record and its partition folders). #>
function Remove-SimHostCheckpointDisk([hashtable]$S, [hashtable]$Disk) {
  $local = Get-SimHostLocalPath $S ([string]$Disk.path)
  if ($null -ne $local -and [System.IO.File]::Exists($local)) { [System.IO.File]::Delete($local) }
  $dir = Join-Path -Path $script:SimHome -ChildPath ('disks/{0}' -f $Disk.id)
  if ([System.IO.Directory]::Exists($dir)) { [System.IO.Directory]::Delete($dir, $true) }
  $gone = $Disk.id
  Select-SimHostItems $S 'disks' { param($x) $x.id -ne $gone }
}

<#
  Merges a VM's checkpoint disks (.avhdx) into their parents once it has no checkpoints left
  [checkpoints: "When you delete a checkpoint, Hyper-V merges the .avhdx and .vhdx files"]: what
  the VM wrote since goes into the disk below, the VM's drives point at it again, and the
  .avhdx files go. Checkpoint disks no drive uses any more (of checkpoints applied over) go too.
#>
function Merge-SimHostCheckpoints([hashtable]$S, [hashtable]$Vm) {
  foreach ($d in @($Vm.hardDisks)) {
    if ($null -eq $d -or -not $d.path) { continue }
    for ($i = 0; $i -lt 16; $i++) {
      $k = Get-SimHostFileKind $S $d.path
      if ($k.kind -ne 'vhdx') { break }
      $disk = Get-SimHostDiskById $S $k.diskId
      if ($null -eq $disk -or -not $disk.checkpoint) { break }
      $parent = Get-SimHostDiskById $S $disk.parentId
      if ($null -eq $parent) { break }
      # a checkpoint disk Checkpoint-VM made holds the VM's files (a copy of its parent's,
      # written on since); one a test put in place by hand has none of its own: nothing to move
      if ($disk.vmId) {
        Copy-SimHostPartitionFiles $disk $parent -Move
        $parent.partitions = $disk.partitions
        if ($null -ne $Vm.guest) { $Vm.guest = Convert-SimHostDiskRefs $Vm.guest @{ ([string]$disk.id) = [string]$parent.id } }
      }
      Remove-SimHostCheckpointDisk $S $disk
      $d.path = $parent.path
    }
  }
  foreach ($orphan in @($S.disks | Where-Object { $null -ne $_ -and $_.checkpoint -and $_.vmId -eq $Vm.id })) { Remove-SimHostCheckpointDisk $S $orphan }
  $Vm.snapshots = @()
  $Vm.mergeUntil = $null
  $Vm.mergeSince = $null
}

Register-SimCmdlet 'Checkpoint-VM' {
  param($c)
  $S = $c.S
  foreach ($vm in (Resolve-SimHostVms $c -Strict)) {
    $state = [string]$vm.state
    $name = [string]$c.P.SnapshotName
    # [checkpoints] "By default, the name of a checkpoint is the name of the virtual machine combined with the date and time"
    if (-not $c.P.ContainsKey('SnapshotName')) { $name = '{0} - ({1})' -f $vm.name, [DateTime]::Now.ToString('MM/dd/yyyy - hh:mm:ss tt', [Globalization.CultureInfo]::InvariantCulture) }
    if (-not $name.Trim()) { Stop-Sim "'$($vm.name)': a checkpoint name cannot be blank." 'InvalidArgument' $vm.name }
    if ($name.Length -gt 100) { Stop-Sim "'$($vm.name)': checkpoint names are limited to 100 characters ($($name.Length) given)." 'InvalidArgument' $name }
    $type = [string]$vm.checkpointType
    if ($type -eq 'Disabled') { Stop-Sim "Checkpoint operation failed for '$($vm.name)': checkpoints are disabled for this virtual machine." 'InvalidOperation' $vm.name }
    # [checkpoints] a production checkpoint freezes the guest's file systems (VSS, fsfreeze) and keeps
    # no memory: a VM that is off has nothing in memory; a running one needs its guest up to answer
    # the backup integration service. Production falls back to standard, ProductionOnly fails.
    $kind = 'Standard'
    if ($type -in @('Production', 'ProductionOnly')) {
      $g = $vm.guest
      if ($state -eq 'Off' -or ($state -eq 'Running' -and $null -ne $g -and [string]$g.phase -eq 'ready')) { $kind = 'Production' }
      elseif ($type -eq 'ProductionOnly') {
        Stop-Sim "Checkpoint operation failed for '$($vm.name)': a production checkpoint could not be created (the guest's backup integration service did not respond) and the checkpoint type is ProductionOnly." 'InvalidOperation' $vm.name
      }
    }
    $sid = New-SimId
    $snap = @{ id = $sid; name = $name; created = Get-SimHostNowText; kind = $kind; state = $state; hardDisks = @() }
    if ($kind -eq 'Standard' -and $state -in @('Running', 'Paused')) { $snap.runSince = (ConvertTo-SimHostTime $vm.since).ToString('o') }
    if ($state -eq 'Saved' -and $null -ne $vm.savedRun) { $snap.runSince = (ConvertTo-SimHostTime $vm.savedRun.since).ToString('o') }
    # what the guest is (its disk's files stay frozen in the parent disks below)
    $snap.guest = Copy-SimHostValue $vm.guest
    $map = @{}
    $drives = @()
    foreach ($d in @($vm.hardDisks)) {
      if ($null -eq $d -or -not $d.path) { continue }
      $parent = Get-SimHostDisk $S ([string]$d.path)
      if ($null -eq $parent) { Stop-Sim "Checkpoint operation failed for '$($vm.name)': the disk '$($d.path)' is missing." 'ObjectNotFound' $d.path }
      $drives += @{ controller = [int]$d.controller; location = [int]$d.location; path = [string]$d.path }
      $child = New-SimHostCheckpointDisk $S $vm $parent $sid
      $map[[string]$parent.id] = [string]$child.id
      $d.path = $child.path
    }
    $snap.hardDisks = $drives
    if ($null -ne $vm.guest -and $map.Count -gt 0) { $vm.guest = Convert-SimHostDiskRefs $vm.guest $map }
    Add-SimHostItem $vm 'snapshots' $snap
    if ($c.P.Passthru) { ConvertTo-SimHostSnapshotObject $vm $snap }
  }
}

Register-SimCmdlet 'Restore-VMSnapshot' {
  param($c)
  $S = $c.S
  $vm = $null
  $snap = $null
  if ($c.P.ContainsKey('VMSnapshot')) {
    $o = $c.P.VMSnapshot
    $vm = Find-SimHostVm $S ([string]$o.VMId)
    if ($null -eq $vm) { Stop-Sim "the virtual machine of checkpoint '$($o.Name)' no longer exists" 'ObjectNotFound' $o.Name }
    $snap = @($vm.snapshots | Where-Object { $null -ne $_ -and $_.id -eq [string]$o.Id }) | Select-Object -First 1
    if ($null -eq $snap) { Stop-Sim "the checkpoint '$($o.Name)' of '$($vm.name)' no longer exists" 'ObjectNotFound' $o.Name }
  } else {
    $vms = Resolve-SimHostVms $c -Strict
    $vm = $vms[0]
    $found = @($vm.snapshots | Where-Object { $null -ne $_ -and $_.name -eq [string]$c.P.Name })
    if ($found.Count -eq 0) { Stop-Sim "Hyper-V was unable to find a checkpoint named '$($c.P.Name)' of '$($vm.name)'." 'ObjectNotFound' $c.P.Name }
    if ($found.Count -gt 1) { Stop-Sim "'$($vm.name)' has $($found.Count) checkpoints named '$($c.P.Name)': give the checkpoint object." 'InvalidArgument' $c.P.Name }
    $snap = $found[0]
  }
  # The Restore-VMSnapshot page does not say what happens to a running VM; Hyper-V Manager asks
  # before discarding its state. Modelled strictly: the VM must be off or saved (labctl's
  # restore-checkpoint.ps1 turns it off first).
  if ([string]$vm.state -notin @('Off', 'Saved')) {
    Stop-Sim "'$($vm.name)' failed to apply checkpoint '$($snap.name)': the virtual machine is $($vm.state) (turn it off first)." 'InvalidOperation' $vm.name 'InvalidState'
  }
  $map = @{}
  foreach ($sd in @($snap.hardDisks)) {
    if ($null -eq $sd) { continue }
    $drive = Get-SimHostDrive $vm 'HardDiskDrive' ([int]$sd.controller) ([int]$sd.location)
    if ($null -eq $drive) { Stop-Sim "'$($vm.name)' failed to apply checkpoint '$($snap.name)': its drive at SCSI $($sd.controller),$($sd.location) was removed." 'ObjectNotFound' $vm.name }
    $base = Get-SimHostDisk $S ([string]$sd.path)
    if ($null -eq $base) { Stop-Sim "'$($vm.name)' failed to apply checkpoint '$($snap.name)': the disk '$($sd.path)' is missing." 'ObjectNotFound' $sd.path }
    # what ran on since the checkpoint is discarded ("You cannot undo this action" [checkpoints])
    $current = Get-SimHostDisk $S ([string]$drive.path)
    $kept = @($vm.snapshots | ForEach-Object { @($_.hardDisks) | ForEach-Object { Get-SimPathKey ([string]$_.path) } })
    if ($null -ne $current -and $current.checkpoint -and $kept -notcontains (Get-SimPathKey ([string]$current.path))) { Remove-SimHostCheckpointDisk $S $current }
    $child = New-SimHostCheckpointDisk $S $vm $base (New-SimId)
    $map[[string]$base.id] = [string]$child.id
    $drive.path = $child.path
  }
  $guest = Copy-SimHostValue $snap.guest
  $vm.guest = $(if ($null -ne $guest) { Convert-SimHostDiskRefs $guest $map } else { @{ os = $null; phase = 'none'; problem = '' } })
  # [checkpoints] a standard checkpoint of a running VM brings back its memory: the VM is saved
  # in that moment and Start-VM resumes it there; a production one (no memory) leaves it off
  if ($snap.runSince) {
    $vm.savedRun = @{ since = (ConvertTo-SimHostTime $snap.runSince).ToString('o'); at = Get-SimHostNowText }
    $vm.state = 'Saved'
    $vm.since = Get-SimHostNowText
  } else {
    $vm.savedRun = $null
    Stop-SimHostGuest $vm 'Off'
  }
  if ($c.P.Passthru) { ConvertTo-SimHostSnapshotObject $vm $snap }
}

# ---------------------------------------------------------------------------------------
# what boots: UEFI tries the boot entries in order [gen2-sec]
# ---------------------------------------------------------------------------------------

$script:EfiGuid = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'

<# The folder of a partition's files, or $null. #>
function Get-SimHostPartitionFolder([hashtable]$Disk, [int]$Number) { Get-SimPartitionRoot $Disk.id $Number }

function Find-SimHostEsp([hashtable]$Disk) {
  @($Disk.partitions | Where-Object { $null -ne $_ -and ([string]$_.gptType).Trim('{}').ToLowerInvariant() -eq $script:EfiGuid }) | Select-Object -First 1
}

<#
  What a boot entry would start: @{ os = 'ubuntu-installer'|'ubuntu'|'windows'; signer;
  disk; ... } or @{ skip = 'why not' }.
#>
function Resolve-SimHostBootEntry([hashtable]$S, [hashtable]$Vm, [hashtable]$Entry) {
  if ($Entry.kind -eq 'File') {
    $d = @($Vm.hardDisks | Where-Object { $null -ne $_ -and $_.path -and (Get-SimPathKey $_.path) -eq (Get-SimPathKey ([string]$Entry.diskPath)) }) | Select-Object -First 1
    if ($null -eq $d) { return @{ skip = "$($Entry.description): its disk is not attached" } }
    $disk = Get-SimHostDisk $S $d.path
    $esp = $(if ($null -ne $disk) { Find-SimHostEsp $disk })
    if ($null -eq $esp) { return @{ skip = "$($Entry.description): no EFI system partition" } }
    $file = Join-Path -Path (Get-SimHostPartitionFolder $disk ([int]$esp.number)) -ChildPath (([string]$Entry.path).TrimStart('\') -replace '\\', '/')
    if (-not [System.IO.File]::Exists($file)) { return @{ skip = "$($Entry.description): $($Entry.path) not found" } }
    return Resolve-SimHostDiskBoot $S $disk $esp
  }
  if ($Entry.driveKind -eq 'NetworkAdapter') { return @{ skip = 'Network Adapter: no boot image was found (PXE: no boot server answered)' } }
  $drive = Get-SimHostDrive $Vm $Entry.driveKind ([int]$Entry.controller) ([int]$Entry.location)
  $label = $(if ($Entry.driveKind -eq 'DvdDrive') { "SCSI DVD ($($Entry.controller),$($Entry.location))" } else { "SCSI Disk ($($Entry.controller),$($Entry.location))" })
  if ($null -eq $drive -or -not $drive.path) { return @{ skip = "${label}: no media" } }
  $k = Get-SimHostFileKind $S $drive.path
  if ($Entry.driveKind -eq 'DvdDrive') {
    switch ($k.kind) {
      'iso-ubuntu-live-server' { return @{ os = 'ubuntu-installer'; signer = 'MicrosoftUEFICertificateAuthority'; label = $label; iso = $drive.path } }
      'iso-windows-server' { return @{ skip = "${label}: Windows Setup waited for a key press ('Press any key to boot from CD or DVD') and went on" } }
      default { return @{ skip = "${label}: the boot loader failed (no EFI boot image on the disc)" } }
    }
  }
  if ($k.kind -ne 'vhdx') { return @{ skip = "${label}: the boot loader failed" } }
  $disk = Get-SimHostDiskById $S $k.diskId
  $esp = $(if ($null -ne $disk) { Find-SimHostEsp $disk })
  if ($null -eq $esp) { return @{ skip = "${label}: the boot loader failed (no EFI system partition)" } }
  $r = Resolve-SimHostDiskBoot $S $disk $esp
  $r.label = $label
  return $r
}

function Resolve-SimHostDiskBoot([hashtable]$S, [hashtable]$Disk, [hashtable]$Esp) {
  $root = Get-SimHostPartitionFolder $Disk ([int]$Esp.number)
  if ([System.IO.File]::Exists((Join-Path -Path $root -ChildPath 'EFI/Microsoft/Boot/bootmgfw.efi'))) {
    return @{ os = 'windows'; signer = 'MicrosoftWindows'; disk = $Disk; esp = $Esp }
  }
  if ([System.IO.File]::Exists((Join-Path -Path $root -ChildPath 'EFI/ubuntu/shimx64.efi'))) {
    return @{ os = 'ubuntu'; signer = 'MicrosoftUEFICertificateAuthority'; disk = $Disk; esp = $Esp }
  }
  return @{ skip = 'the boot loader failed (no boot loader on the EFI system partition)' }
}

<# Called when a VM starts: decides what runs in it. #>
function Start-SimHostBoot([hashtable]$S, [hashtable]$Vm) {
  if ($null -eq $Vm.guest) { $Vm.guest = @{} }
  $g = $Vm.guest
  $g.problem = ''
  $g.kernelUp = $false
  $g.phaseSince = Get-SimHostNowText
  $seen = New-Object System.Collections.Generic.List[string]
  $fw = $Vm.firmware
  if ([int]$Vm.generation -ne 2) { $g.phase = 'none'; $g.problem = 'Generation 1 virtual machines are not simulated'; return }
  $n = 0
  foreach ($entry in @($fw.bootOrder)) {
    if ($null -eq $entry) { continue }
    $n++
    $r = Resolve-SimHostBootEntry $S $Vm $entry
    if ($r.skip) { $seen.Add("$n. $($r.skip)"); continue }
    # Secure Boot: the firmware trusts what the VM's template trusts. [gen2-sec]: "Microsoft
    # Windows: select to secure boot the virtual machine for a Windows operating system;
    # Microsoft UEFI Certificate Authority: ... for a Linux distribution operating system"
    # ([ws2016-new]: Linux VMs must be set to the UEFI CA template before their first boot).
    # One template trusts one of them, not both.
    if ([string]$fw.secureBoot -eq 'On' -and [string]$fw.template -ne $r.signer) {
      $what = $(if ($r.os -eq 'windows') { 'Windows Boot Manager' } elseif ($r.os -eq 'ubuntu-installer') { "the Ubuntu installer's shim ($($r.label))" } else { "Ubuntu's shim" })
      $seen.Add("$n. $what`: the signed image's hash is not allowed (DB): Secure Boot violation (template $($fw.template); it is signed for $($r.signer))")
      continue
    }
    switch ($r.os) {
      'ubuntu-installer' { Start-SimHostInstaller $S $Vm $r; return }
      'ubuntu' { Start-SimHostUbuntu $S $Vm $r; return }
      'windows' { Start-SimHostWindows $S $Vm $r; return }
    }
  }
  $g.phase = 'none'
  $g.problem = 'Virtual Machine Boot Summary: ' + ($seen -join '; ') + '. No operating system was loaded.'
  if ($seen.Count -eq 0) { $g.problem = 'No operating system was loaded: the virtual machine has no boot entries.' }
}

# ---------------------------------------------------------------------------------------
# Ubuntu: the live installer with a NoCloud seed (autoinstall), then the installed system
# ---------------------------------------------------------------------------------------

<# The files of an ISO 9660 image (Joliet names where the image has them): @{ label; files = @{ name = bytes } }. #>
function Read-SimHostIso9660([string]$Local) {
  $bytes = [System.IO.File]::ReadAllBytes($Local)
  $sector = 2048
  $label = [System.Text.Encoding]::ASCII.GetString($bytes, 16 * $sector + 40, 32).Trim()
  $root = $null
  $joliet = $false
  for ($s = 16; $s -lt 32 -and ($s + 1) * $sector -le $bytes.Length; $s++) {
    $o = $s * $sector
    $type = $bytes[$o]
    if ($type -eq 255) { break }
    if ([System.Text.Encoding]::ASCII.GetString($bytes, $o + 1, 5) -ne 'CD001') { break }
    if ($type -eq 1 -and $null -eq $root) { $root = $o + 156 }
    if ($type -eq 2 -and $bytes[$o + 88] -eq 0x25 -and $bytes[$o + 89] -eq 0x2F) { $root = $o + 156; $joliet = $true }
  }
  $files = @{}
  if ($null -eq $root) { return @{ label = $label; files = $files } }
  $extent = [BitConverter]::ToUInt32($bytes, $root + 2)
  $size = [BitConverter]::ToUInt32($bytes, $root + 10)
  $p = [int]($extent * $sector)
  $end = $p + [int]$size
  while ($p -lt $end -and $p -lt $bytes.Length) {
    $len = $bytes[$p]
    if ($len -eq 0) { $p = ([int][Math]::Floor($p / $sector) + 1) * $sector; continue }
    $fe = [BitConverter]::ToUInt32($bytes, $p + 2)
    $fs = [BitConverter]::ToUInt32($bytes, $p + 10)
    $flags = $bytes[$p + 25]
    $nl = $bytes[$p + 32]
    if ($nl -gt 1 -and ($flags -band 2) -eq 0) {
      if ($joliet) { $name = [System.Text.Encoding]::BigEndianUnicode.GetString($bytes, $p + 33, $nl) } else { $name = [System.Text.Encoding]::ASCII.GetString($bytes, $p + 33, $nl).ToLowerInvariant() }
      $name = ($name -split ';')[0]
      $data = New-Object byte[] $fs
      [Array]::Copy($bytes, [long]$fe * $sector, $data, 0, $fs)
      $files[$name] = $data
    }
    $p += $len
  }
  return @{ label = $label; files = $files }
}

<# The NoCloud seed in the VM's DVD drives: a disc labelled CIDATA; its user-data text, or $null. #>
function Find-SimHostSeed([hashtable]$S, [hashtable]$Vm) {
  foreach ($d in @($Vm.dvds)) {
    if ($null -eq $d -or -not $d.path) { continue }
    $k = Get-SimHostFileKind $S $d.path
    if ($k.kind -ne 'iso9660') { continue }
    $iso = Read-SimHostIso9660 $k.local
    if ($iso.label -ne 'CIDATA') { continue }
    $ud = $iso.files['user-data']
    if ($null -eq $ud) { continue }
    return [System.Text.Encoding]::UTF8.GetString($ud)
  }
  return $null
}

<# The static IPv4 address a netplan "ethernets" entry gives the adapter with this MAC (match: macaddress). #>
function Get-SimHostNetplanAddress([string]$UserData, [string]$Mac) {
  if (-not $UserData) { return $null }
  $want = ConvertTo-SimHostMac $Mac
  $lines = $UserData -split "`r?`n"
  for ($i = 0; $i -lt $lines.Count; $i++) {
    if ($lines[$i] -notmatch '^\s*macaddress:\s*"?([0-9A-Fa-f:.-]+)"?\s*$') { continue }
    if ((ConvertTo-SimHostMac $Matches[1]) -ne $want) { continue }
    for ($j = $i + 1; $j -lt [Math]::Min($lines.Count, $i + 30); $j++) {
      if ($lines[$j] -match '^\s*addresses:\s*\[\s*"?([0-9.]+)/(\d+)"?') { return @{ ip = $Matches[1]; prefix = [int]$Matches[2] } }
      if ($lines[$j] -match '^\s*match:') { break }
    }
  }
  return $null
}

function Start-SimHostInstaller([hashtable]$S, [hashtable]$Vm, [hashtable]$Boot) {
  $g = $Vm.guest
  $g.os = 'ubuntu'
  $g.phase = 'installer'
  $g.problem = ''
  $seed = Find-SimHostSeed $S $Vm
  $g.autoinstall = $false
  if ($null -eq $seed) {
    $g.problem = 'the Ubuntu live installer waits for someone at the console: no NoCloud seed (no disc labelled CIDATA with a user-data file)'
    return
  }
  $g.userData = $seed
  if ($seed -notmatch '(?m)^autoinstall:') {
    $g.problem = 'the seed has no autoinstall section: the live installer starts the interactive installer'
    return
  }
  # subiquity asks "Continue with autoinstall? (yes|no)" when 'autoinstall' is not on the
  # kernel command line (it is not: labctl does not rebuild the ISO). labctl's seed answers it
  # with its confirm helper, started by an early-command.
  if ($seed -notmatch 'confirm-autoinstall') {
    $g.problem = "the installer waits at 'Continue with autoinstall? (yes|no)' on the console: nothing in the seed answers it"
    return
  }
  $g.autoinstall = $true
}

<# The install writes the installed system to the VM's (largest) disk, registers its boot entry first. #>
function Complete-SimHostInstall([hashtable]$S, [hashtable]$Vm) {
  $g = $Vm.guest
  $target = $null
  $best = -1
  foreach ($d in @($Vm.hardDisks)) {
    if ($null -eq $d -or -not $d.path) { continue }
    $disk = Get-SimHostDisk $S $d.path
    if ($null -ne $disk -and [long]$disk.sizeBytes -gt $best) { $target = $disk; $best = [long]$disk.sizeBytes }
  }
  if ($null -eq $target) {
    $g.phase = 'failed'
    $g.problem = 'the autoinstall failed: no disk to install to (curtin: no block device for the "direct" layout)'
    return
  }
  $size = [long]$target.sizeBytes
  $target.partitionStyle = 'GPT'
  if (-not $target.signature) { $target.signature = New-SimId }
  $target.partitions = @(
    @{ number = 1; size = 1GB; offset = 1MB; gptType = "{$script:EfiGuid}"; type = 'System'; fileSystem = 'FAT32'; label = ''; letter = $null },
    @{ number = 2; size = $size - 1GB - 2MB; offset = 1GB + 1MB; gptType = '{0fc63daf-8483-4772-8e79-3d69d8477de4}'; type = 'Unknown'; fileSystem = 'ext4'; label = ''; letter = $null }
  )
  foreach ($n in 1, 2) {
    $dir = Get-SimHostPartitionFolder $target $n
    Get-ChildItem -LiteralPath $dir -Force | Remove-Item -Recurse -Force
  }
  $esp = Get-SimHostPartitionFolder $target 1
  foreach ($f in 'EFI/ubuntu/shimx64.efi', 'EFI/ubuntu/grubx64.efi', 'EFI/BOOT/BOOTX64.EFI') {
    $file = Join-Path -Path $esp -ChildPath $f
    [void][System.IO.Directory]::CreateDirectory((Split-Path -Path $file -Parent))
    [System.IO.File]::WriteAllText($file, "LABCTL-SIM-EFI ubuntu`n")
  }
  $rootfs = Get-SimHostPartitionFolder $target 2
  $logDir = Join-Path -Path $rootfs -ChildPath 'var/log/installer'
  [void][System.IO.Directory]::CreateDirectory($logDir)
  # the installed system keeps the configuration it was installed with (subiquity does)
  [System.IO.File]::WriteAllText((Join-Path -Path $logDir -ChildPath 'autoinstall-user-data'), [string]$g.userData)
  # ... and hands its user-data and network to the installed system's cloud-init (datasource
  # None: no seed needed at its first boot); ubuntu-generalize.sh removes it for a golden disk
  $cfgDir = Join-Path -Path $rootfs -ChildPath 'etc/cloud/cloud.cfg.d'
  [void][System.IO.Directory]::CreateDirectory($cfgDir)
  [System.IO.File]::WriteAllText((Join-Path -Path $cfgDir -ChildPath '99-installer.cfg'), [string]$g.userData)
  $target.os = 'ubuntu'
  # the installed system's own boot entry ("ubuntu", \EFI\ubuntu\shimx64.efi) goes first
  $entry = @{ kind = 'File'; description = 'ubuntu'; path = '\EFI\ubuntu\shimx64.efi'; diskPath = $target.path }
  $rest = @(@($Vm.firmware.bootOrder) | Where-Object { $null -ne $_ -and -not ($_.kind -eq 'File' -and $_.description -eq 'ubuntu') })
  $Vm.firmware.bootOrder = @($entry) + $rest
  $g.installed = $true
}

function Start-SimHostUbuntu([hashtable]$S, [hashtable]$Vm, [hashtable]$Boot) {
  $g = $Vm.guest
  $g.os = 'ubuntu'
  $g.phase = 'booting'
  $g.problem = ''
  $g.bootDiskId = $Boot.disk.id
  $root = Get-SimHostPartitionFolder $Boot.disk 2
  $g.rootDir = $root
  Initialize-SimHostCloudInit $S $Vm $root
}

<#
  The installed system's first moments, as systemd and cloud-init run them [nocloud]: a
  machine-id that is empty or "uninitialized" is made anew; cloud-init takes its datasource
  (a NoCloud seed disc in a drive, else the installer's configuration left in
  /etc/cloud/cloud.cfg.d/99-installer.cfg) and, when the instance is new (an instance-id it
  has not recorded), applies it: SSH host keys, user-data and network recorded on the disk.
  The guest's identity (user, keys, address) is what the disk then holds: a generalized disk
  booted without a seed has none.
#>
function Initialize-SimHostCloudInit([hashtable]$S, [hashtable]$Vm, [string]$Root) {
  $g = $Vm.guest
  $file = { param($rel) Join-Path -Path $Root -ChildPath $rel }
  $write = {
    param($rel, $text)
    $f = & $file $rel
    [void][System.IO.Directory]::CreateDirectory((Split-Path -Path $f -Parent))
    [System.IO.File]::WriteAllText($f, [string]$text)
  }
  $read = { param($rel) $f = & $file $rel; if ([System.IO.File]::Exists($f)) { [System.IO.File]::ReadAllText($f) } else { $null } }
  $mid = & $read 'etc/machine-id'
  if (-not $mid -or $mid.Trim() -eq '' -or $mid.Trim() -eq 'uninitialized') { & $write 'etc/machine-id' (([guid]::NewGuid().ToString('N')) + "`n") }

  $source = $null
  $seed = Find-SimHostNoCloud $S $Vm
  if ($null -ne $seed) { $source = $seed }
  else {
    $installer = & $read 'etc/cloud/cloud.cfg.d/99-installer.cfg'
    if ($installer) { $source = @{ instanceId = 'installer'; userData = $installer; networkConfig = $null } }
  }
  $known = & $read 'var/lib/cloud/data/instance-id'
  if ($null -ne $source -and ([string]$known).Trim() -ne [string]$source.instanceId) {
    $ud = [string]$source.userData
    & $write 'var/lib/cloud/data/instance-id' ([string]$source.instanceId + "`n")
    & $write 'var/lib/cloud/instance/user-data.txt' $ud
    $net = $(if ($source.networkConfig) { [string]$source.networkConfig } else { $ud })
    & $write 'etc/netplan/50-cloud-init.yaml' $net
    $key = Get-SimHostYamlBlock $ud 'ed25519_private'
    if ($key) { & $write 'etc/ssh/ssh_host_ed25519_key' $key }
  }
  $g.userData = [string](& $read 'var/lib/cloud/instance/user-data.txt')
  $g.networkConfig = [string](& $read 'etc/netplan/50-cloud-init.yaml')
  $g.machineId = ([string](& $read 'etc/machine-id')).Trim()
  if (-not $g.userData) { $g.problem = 'cloud-init found no datasource (no NoCloud seed, no installer configuration): no user, no host key, no network' }
}

<# The NoCloud seed of a booted system (not an autoinstall): user-data, network-config, instance-id. #>
function Find-SimHostNoCloud([hashtable]$S, [hashtable]$Vm) {
  foreach ($d in @($Vm.dvds)) {
    if ($null -eq $d -or -not $d.path) { continue }
    $k = Get-SimHostFileKind $S $d.path
    if ($k.kind -ne 'iso9660') { continue }
    $iso = Read-SimHostIso9660 $k.local
    if ($iso.label -ne 'CIDATA' -or $null -eq $iso.files['user-data']) { continue }
    $ud = [System.Text.Encoding]::UTF8.GetString($iso.files['user-data'])
    if ($ud -match '(?m)^autoinstall:') { continue }
    $meta = $(if ($null -ne $iso.files['meta-data']) { [System.Text.Encoding]::UTF8.GetString($iso.files['meta-data']) } else { '' })
    $id = $(if ($meta -match '(?m)^instance-id:\s*"?([^"\r\n]+)"?') { $Matches[1].Trim() } else { '' })
    $net = $(if ($null -ne $iso.files['network-config']) { [System.Text.Encoding]::UTF8.GetString($iso.files['network-config']) } else { $null })
    return @{ instanceId = $id; userData = $ud; networkConfig = $net }
  }
  return $null
}

<# A YAML block scalar or quoted string value under a key (the host key in user-data), or ''. #>
function Get-SimHostYamlBlock([string]$Text, [string]$Key) {
  if ($Text -match ('(?m)^\s*' + [regex]::Escape($Key) + ':\s*"((?:[^"\\]|\\.)*)"')) { return ($Matches[1] -replace '\\n', "`n" -replace '\\"', '"') }
  return ''
}

# ---------------------------------------------------------------------------------------
# Windows: first boot of a generalized image reads \Windows\Panther\unattend.xml
# ---------------------------------------------------------------------------------------

function Start-SimHostWindows([hashtable]$S, [hashtable]$Vm, [hashtable]$Boot) {
  $g = $Vm.guest
  $g.os = 'windows'
  $g.problem = ''
  $disk = $Boot.disk
  # the Boot Manager finds Windows through its BCD store: the partition, on the disk with the
  # signature bcdboot saw. A disk that got a new signature (brought online after a signature
  # collision) no longer matches.
  $bcdFile = Join-Path -Path (Get-SimHostPartitionFolder $disk ([int]$Boot.esp.number)) -ChildPath 'EFI/Microsoft/Boot/BCD'
  $bcd = $null
  if ([System.IO.File]::Exists($bcdFile)) { try { $bcd = ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($bcdFile)) -AsHashtable } catch { $bcd = $null } }
  if ($null -eq $bcd) { $g.phase = 'failed'; $g.problem = 'Windows Boot Manager: the Boot Configuration Data store is missing (0xc000000f)'; return }
  if ([string]$bcd.diskSignature -ne (Get-SimHostSignature $S $disk)) {
    $g.phase = 'failed'
    $g.problem = 'Windows Boot Manager: winload.efi 0xc000000e, a required device is not connected or cannot be accessed (the disk signature changed since bcdboot wrote the BCD store)'
    return
  }
  $part = @($disk.partitions | Where-Object { $null -ne $_ -and [int]$_.number -eq [int]$bcd.partition }) | Select-Object -First 1
  $root = $(if ($null -ne $part) { Get-SimHostPartitionFolder $disk ([int]$part.number) })
  if ($null -eq $root -or -not [System.IO.File]::Exists((Join-Path -Path $root -ChildPath 'Windows/System32/winload.efi'))) {
    $g.phase = 'failed'; $g.problem = 'Windows Boot Manager: \Windows\System32\winload.efi is missing or corrupt (0xc000000f)'; return
  }
  $g.phase = 'booting'
  $g.bootDiskId = $disk.id
  $g.windowsRoot = $root
}

<# The problems Windows setup finds in an answer file's specialize pass (TCPIP order), or @(). #>
function Test-SimHostUnattendSpecialize([xml]$Xml) {
  $ns = New-Object System.Xml.XmlNamespaceManager -ArgumentList $Xml.NameTable
  $ns.AddNamespace('u', 'urn:schemas-microsoft-com:unattend')
  $problems = @()
  # [tcpip-if] "The settings in Interface must be added in the following order: Ipv4Settings,
  # Ipv6Settings, Identifier, UnicastIpAddresses, and then Routes."
  # [tcpip-route] "The settings under Route must be added in the following order: Identifier,
  # Metric, NextHopAddress, and then Prefix."
  $ifOrder = @('Ipv4Settings', 'Ipv6Settings', 'Identifier', 'UnicastIpAddresses', 'Routes')
  $routeOrder = @('Identifier', 'Metric', 'NextHopAddress', 'Prefix')
  foreach ($iface in @($Xml.SelectNodes("//u:settings[@pass='specialize']/u:component[@name='Microsoft-Windows-TCPIP']/u:Interfaces/u:Interface", $ns))) {
    $names = @($iface.ChildNodes | Where-Object { $_.NodeType -eq 'Element' } | ForEach-Object { $_.LocalName })
    $bad = Test-SimHostOrder $names $ifOrder
    if ($bad) { $problems += "Microsoft-Windows-TCPIP Interface: $bad (documented order: $($ifOrder -join ', '))" }
    foreach ($route in @($iface.SelectNodes('u:Routes/u:Route', $ns))) {
      $rn = @($route.ChildNodes | Where-Object { $_.NodeType -eq 'Element' } | ForEach-Object { $_.LocalName })
      $bad = Test-SimHostOrder $rn $routeOrder
      if ($bad) { $problems += "Microsoft-Windows-TCPIP Route: $bad (documented order: $($routeOrder -join ', '))" }
    }
  }
  return , $problems
}

function Test-SimHostOrder([string[]]$Names, [string[]]$Order) {
  $last = -1
  $prev = ''
  foreach ($n in $Names) {
    $i = [Array]::IndexOf($Order, $n)
    if ($i -lt 0) { continue }
    if ($i -lt $last) { return "<$n> comes after <$prev>" }
    $last = $i
    $prev = $n
  }
  return ''
}

<# [complexity]: the problems of a password under "Password must meet complexity requirements". #>
function Test-SimHostPasswordComplexity([string]$Password, [string]$Account = 'Administrator') {
  # "Passwords must not contain the user's samAccountName (Account Name) value" (when longer than 2 characters)
  if ($Account.Length -gt 2 -and $Password.IndexOf($Account, [StringComparison]::OrdinalIgnoreCase) -ge 0) { return "it contains the account name $Account" }
  # complexity needs at least six characters
  if ($Password.Length -lt 6) { return "it has $($Password.Length) characters (complexity needs at least 6)" }
  # "Passwords must contain characters from three of the following five categories":
  # uppercase, lowercase, base 10 digits, non-alphanumeric (~!@#$%^&*_-+=`|\(){}[]:;"'<>,.?/),
  # and Unicode alphabetic characters that are neither upper- nor lowercase
  $classes = [ordered]@{ 'uppercase letters' = $false; 'lowercase letters' = $false; 'digits' = $false; 'symbols' = $false; 'other letters' = $false }
  foreach ($ch in $Password.ToCharArray()) {
    if ([char]::IsUpper($ch)) { $classes['uppercase letters'] = $true }
    elseif ([char]::IsLower($ch)) { $classes['lowercase letters'] = $true }
    elseif ($ch -ge [char]'0' -and $ch -le [char]'9') { $classes['digits'] = $true }
    elseif ([char]::IsLetter($ch)) { $classes['other letters'] = $true }
    elseif ('~!@#$%^&*_-+=`|\(){}[]:;"''<>,.?/'.IndexOf($ch) -ge 0) { $classes['symbols'] = $true }
  }
  $have = @($classes.Keys | Where-Object { $classes[$_] })
  if ($have.Count -lt 3) { return "it has only $($have -join ' and ') (complexity needs three of: uppercase letters, lowercase letters, digits, symbols)" }
  return ''
}

<# Decodes <AdministratorPassword><Value>: with PlainText false, base64 of UTF-16LE password + "AdministratorPassword". #>
function Get-SimHostUnattendPassword([xml]$Xml) {
  $ns = New-Object System.Xml.XmlNamespaceManager -ArgumentList $Xml.NameTable
  $ns.AddNamespace('u', 'urn:schemas-microsoft-com:unattend')
  $node = $Xml.SelectSingleNode("//u:settings[@pass='oobeSystem']/u:component[@name='Microsoft-Windows-Shell-Setup']/u:UserAccounts/u:AdministratorPassword", $ns)
  if ($null -eq $node) { return @{ missing = $true } }
  $value = [string]$node.SelectSingleNode('u:Value', $ns).InnerText
  $plain = [string]$node.SelectSingleNode('u:PlainText', $ns).InnerText
  if ($plain -eq 'false') {
    try { $text = [System.Text.Encoding]::Unicode.GetString([Convert]::FromBase64String($value)) } catch { return @{ error = 'its AdministratorPassword value is not valid base64' } }
    if (-not $text.EndsWith('AdministratorPassword')) { return @{ error = 'its AdministratorPassword value does not decode to <password>AdministratorPassword' } }
    return @{ password = $text.Substring(0, $text.Length - 'AdministratorPassword'.Length) }
  }
  return @{ password = $value }
}

function Get-SimHostUnattendValue([xml]$Xml, [string]$Pass, [string]$Component, [string]$Path) {
  $ns = New-Object System.Xml.XmlNamespaceManager -ArgumentList $Xml.NameTable
  $ns.AddNamespace('u', 'urn:schemas-microsoft-com:unattend')
  $node = $Xml.SelectSingleNode("//u:settings[@pass='$Pass']/u:component[@name='$Component']/$Path", $ns)
  if ($null -eq $node) { return $null }
  return [string]$node.InnerText
}

<# The address Microsoft-Windows-TCPIP gives the interface whose Identifier is this MAC. #>
function Get-SimHostUnattendAddress([xml]$Xml, [string]$Mac) {
  $ns = New-Object System.Xml.XmlNamespaceManager -ArgumentList $Xml.NameTable
  $ns.AddNamespace('u', 'urn:schemas-microsoft-com:unattend')
  foreach ($iface in @($Xml.SelectNodes("//u:settings[@pass='specialize']/u:component[@name='Microsoft-Windows-TCPIP']/u:Interfaces/u:Interface", $ns))) {
    $id = [string]$iface.SelectSingleNode('u:Identifier', $ns).InnerText
    if ((ConvertTo-SimHostMac $id) -ne (ConvertTo-SimHostMac $Mac)) { continue }
    $ip = $iface.SelectSingleNode('u:UnicastIpAddresses/u:IpAddress', $ns)
    if ($null -ne $ip -and $ip.InnerText -match '^([0-9.]+)/(\d+)$') { return @{ ip = $Matches[1]; prefix = [int]$Matches[2] } }
  }
  return $null
}

function Write-SimHostSetupError([hashtable]$Vm, [string]$Message) {
  $g = $Vm.guest
  $g.phase = 'failed'
  $g.problem = $Message
  if ($g.windowsRoot) {
    $panther = Join-Path -Path $g.windowsRoot -ChildPath 'Windows/Panther'
    [void][System.IO.Directory]::CreateDirectory($panther)
    $line = '{0}, Error [Setup] {1}' -f [DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm:ss'), $Message
    [System.IO.File]::AppendAllText((Join-Path -Path $panther -ChildPath 'setuperr.log'), "$line`r`n")
  }
}

<# Windows has booted its kernel: already set up, or setup starts with the answer file. #>
function Start-SimHostWindowsSetup([hashtable]$S, [hashtable]$Vm) {
  $g = $Vm.guest
  $root = [string]$g.windowsRoot
  $marker = Join-Path -Path $root -ChildPath 'Windows/labctl-sim-setup.json'
  if ([System.IO.File]::Exists($marker)) {
    $done = ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($marker)) -AsHashtable
    Set-SimHostWindowsReady $S $Vm $done
    return
  }
  $g.phase = 'setup'
  $file = Join-Path -Path $root -ChildPath 'Windows/Panther/unattend.xml'
  if (-not [System.IO.File]::Exists($file)) {
    $g.problem = 'Windows setup (OOBE) waits for someone at the console: no answer file at C:\Windows\Panther\unattend.xml'
    $g.waiting = $true
    return
  }
  $g.waiting = $false
  try { [xml]$xml = [System.IO.File]::ReadAllText($file) } catch {
    Write-SimHostSetupError $Vm "Windows could not parse or process the unattend answer file [C:\Windows\Panther\unattend.xml]: it is not well-formed XML ($($_.Exception.Message))"
    return
  }
  $problems = Test-SimHostUnattendSpecialize $xml
  if ($problems.Count -gt 0) {
    Write-SimHostSetupError $Vm "Windows could not parse or process unattend answer file [C:\Windows\Panther\unattend.xml] for pass [specialize]. The settings specified in the answer file cannot be applied. The error was detected while processing settings for component [Microsoft-Windows-TCPIP]: $($problems -join '; ')"
    return
  }
  $g.problem = ''
}

<# End of the oobeSystem pass: the Administrator password is set, or setup stops. #>
function Complete-SimHostWindowsSetup([hashtable]$S, [hashtable]$Vm) {
  $g = $Vm.guest
  $root = [string]$g.windowsRoot
  [xml]$xml = [System.IO.File]::ReadAllText((Join-Path -Path $root -ChildPath 'Windows/Panther/unattend.xml'))
  $pw = Get-SimHostUnattendPassword $xml
  if ($pw.missing) {
    $g.problem = 'Windows setup (OOBE) waits at "Customize settings" for someone to type the Administrator password: the answer file has no AdministratorPassword'
    $g.waiting = $true
    return
  }
  if ($pw.error) { Write-SimHostSetupError $Vm "Windows could not complete the installation: the answer file's oobeSystem pass failed: $($pw.error)"; return }
  $why = Test-SimHostPasswordComplexity $pw.password
  if ($why) {
    Write-SimHostSetupError $Vm "Windows could not complete the installation (oobeSystem, Microsoft-Windows-Shell-Setup UserAccounts): the AdministratorPassword does not meet the password policy's complexity requirements: $why"
    return
  }
  $mac = ConvertTo-SimHostMac ([string](@($Vm.adapters | Where-Object { $_ }) | Select-Object -First 1).mac)
  $addr = Get-SimHostUnattendAddress $xml $mac
  $name = Get-SimHostUnattendValue $xml 'specialize' 'Microsoft-Windows-Shell-Setup' 'u:ComputerName'
  if (-not $name -or $name -eq '*') { $name = 'WIN-' + (New-SimId).Substring(0, 11).Replace('-', '').ToUpperInvariant() }
  $done = @{ computerName = $name.ToUpperInvariant(); adminPassword = $pw.password; ipv4 = @(if ($null -ne $addr) { $addr.ip }); prefix = $(if ($null -ne $addr) { $addr.prefix }); mac = $mac }
  [System.IO.File]::WriteAllText((Join-Path -Path $root -ChildPath 'Windows/labctl-sim-setup.json'), (ConvertTo-Json -InputObject $done -Compress))
  Set-SimHostWindowsReady $S $Vm $done
}

function Set-SimHostWindowsReady([hashtable]$S, [hashtable]$Vm, [hashtable]$Done) {
  $g = $Vm.guest
  $g.phase = 'ready'
  $g.problem = ''
  $g.waiting = $false
  $g.setupDone = $true
  $g.computerName = [string]$Done.computerName
  $g.adminPassword = [string]$Done.adminPassword
  $g.ipv4 = @($Done.ipv4 | Where-Object { $_ })
  $g.mac = [string]$Done.mac
  if ($null -eq $g.drives) { $g.drives = @{} }
  $g.drives.C = [string]$g.windowsRoot
  # the guest behaviours may set up what a fresh Windows has (services, features)
  if (Get-Command -Name 'Initialize-SimWindowsGuest' -ErrorAction SilentlyContinue) { Initialize-SimWindowsGuest $S $Vm }
}

# ---------------------------------------------------------------------------------------
# the clock: boot, install and setup advance with time
# ---------------------------------------------------------------------------------------

function Update-SimHostVm([hashtable]$S, [hashtable]$Vm, [DateTime]$Now) {
  if ($Vm.mergeUntil -and $Now -ge (ConvertTo-SimHostTime $Vm.mergeUntil)) { Merge-SimHostCheckpoints $S $Vm }
  if ([string]$Vm.state -ne 'Running') { return }
  $g = $Vm.guest
  if ($null -eq $g) { return }
  $boot = Get-SimHostTiming $S 'bootSeconds' 0.5
  for ($step = 0; $step -lt 8; $step++) {
    $since = ConvertTo-SimHostTime $g.phaseSince
    if ($null -eq $since) { return }
    $elapsed = ($Now - $since).TotalSeconds
    switch ([string]$g.phase) {
      'installer' {
        if (-not $g.kernelUp) {
          if ($elapsed -lt $boot) { return }
          $g.kernelUp = $true
        }
        if (-not $g.autoinstall -or $elapsed -lt $boot) { return }
        $g.phase = 'installing'
        $g.phaseSince = $since.AddSeconds($boot).ToString('o')
      }
      'installing' {
        $install = Get-SimHostTiming $S 'installSeconds' 2
        if ($elapsed -lt $install) { return }
        Complete-SimHostInstall $S $Vm
        if ($g.phase -eq 'failed') { return }
        $at = $since.AddSeconds($install)
        if ([string]$g.userData -match '(?m)^\s*shutdown:\s*poweroff\s*$') {
          Stop-SimHostGuest $Vm 'Off'
          $Vm.since = $at.ToString('o')
          return
        }
        # the default is a reboot: the firmware's first entry is now the installed system
        Start-SimHostBoot $S $Vm
        $g.phaseSince = $at.ToString('o')
      }
      'booting' {
        if ($elapsed -lt $boot) { return }
        $at = $since.AddSeconds($boot)
        if ($g.os -eq 'ubuntu') {
          $g.phase = 'ready'
          $g.problem = ''
          $mac = ConvertTo-SimHostMac ([string](@($Vm.adapters | Where-Object { $_ }) | Select-Object -First 1).mac)
          $addr = Get-SimHostNetplanAddress $(if ($g.networkConfig) { [string]$g.networkConfig } else { [string]$g.userData }) $mac
          $g.mac = $mac
          $g.ipv4 = @(if ($null -ne $addr) { $addr.ip })
          if ($null -eq $addr -and -not $g.problem) { $g.problem = 'booted, but netplan configured no address: no ethernets entry matches the adapter MAC' }
          $g.phaseSince = $at.ToString('o')
          return
        }
        $g.phaseSince = $at.ToString('o')
        Start-SimHostWindowsSetup $S $Vm
        if ($g.phase -ne 'setup') { return }
      }
      'setup' {
        if ($g.waiting) { return }
        if ((Get-SimHostFailures $S 'setupNeverFinishes') -contains $Vm.name) {
          $g.problem = 'Windows setup is still running its configuration passes (fault injected: config.failures.setupNeverFinishes)'
          return
        }
        if ($elapsed -lt (Get-SimHostTiming $S 'setupSeconds' 1)) { return }
        Complete-SimHostWindowsSetup $S $Vm
        return
      }
      default { return }
    }
  }
}

Register-SimClock {
  param($S, $now)
  foreach ($vm in @($S.vms)) { if ($null -ne $vm) { Update-SimHostVm $S $vm $now } }
}
