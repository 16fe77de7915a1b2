# The simulated Hyper-V host, part 1: the .NET types Windows' own modules return, and the
# helpers the other host-*.ps1 files share (state lookups, paths, timing, "in use").
#
# Why real types: a Hyper-V object on Windows is a .NET object, not a property bag. Its
# enums print as names but serialize as numbers (ConvertTo-Json of $vm.State is 3, not
# "Off": labctl's scripts cast with [string] for that reason), `[string]$vm.State -eq 'Off'`
# and `$vm.State -eq 'Off'` both hold, and `$bootEntry.Device.GetType().Name` is
# 'HardDiskDrive' or 'DvdDrive' (get-vm.ps1 reads it). PSCustomObjects would let a script that
# forgets the cast pass here and fail on Windows. Class names and hierarchy follow
# Microsoft.HyperV.PowerShell (VMNetworkAdapter and VMInternalNetworkAdapter both derive from
# VMNetworkAdapterBase, which is what Set-VMNetworkAdapter -VMNetworkAdapter takes). Enum
# members and the numbers of VMState, VMHeartbeatStatus, StartAction and StopAction follow the
# WMI values Hyper-V uses (Msvm_ComputerSystem EnabledState, AutomaticStartupAction,
# AutomaticShutdownAction); VMBootSourceType's numbers are not documented and are a guess.
#
# The assembly is compiled once per version of this text into the temp folder and loaded
# from there: compiling takes about 1.5 s, loading a few milliseconds, and every session of
# every test host loads it.
#
# CIM objects (MSFT_Disk, MSFT_NetIPAddress, ...) stay PSCustomObjects with the CIM type
# names (New-SimCim): their properties are plain values on Windows too.

$script:HostTypesSource = @'
using System;
namespace Microsoft.HyperV.PowerShell {
  public enum VMState { Other = 1, Running = 2, Off = 3, Stopping = 4, Saved = 6, Paused = 9, Starting = 10, Reset = 11, Saving = 32773, Pausing = 32776, Resuming = 32777 }
  public enum VMHeartbeatStatus { Unknown = 0, Disabled = 1, NoContact = 2, Error = 3, LostCommunication = 4, OkApplicationsUnknown = 5, OkApplicationsHealthy = 6, OkApplicationsCritical = 7, Paused = 8 }
  public enum OnOffState { On = 0, Off = 1 }
  public enum VMSwitchType { Private = 0, Internal = 1, External = 2 }
  public enum VMBootSourceType { Unknown = 0, Drive = 1, Network = 2, File = 3 }
  public enum ControllerType { IDE = 0, SCSI = 1, PMEM = 2 }
  public enum StartAction { Nothing = 2, StartIfRunning = 3, Start = 4 }
  public enum StopAction { TurnOff = 2, Save = 3, ShutDown = 4 }
  public enum CheckpointType { Disabled = 2, Production = 3, ProductionOnly = 4, Standard = 5 }
  public enum SnapshotType { Standard = 0, Recovery = 1, Planned = 2, Missing = 3, Replica = 4, AppConsistentReplica = 5, SyncedReplica = 6 }
  public enum DvdMediaType { None = 0, ISO = 1, PassThrough = 2 }

  public class VMComponentObject { public string ComputerName { get; set; } public bool IsDeleted { get; set; } }
  public class VirtualMachineBase : VMComponentObject {
    public string Name { get; set; }
    public Guid Id { get; set; }
    public VMState State { get; set; }
    public int Generation { get; set; }
    public string Notes { get; set; }
    public string Path { get; set; }
    public long ProcessorCount { get; set; }
    public long MemoryStartup { get; set; }
    public bool DynamicMemoryEnabled { get; set; }
    public HardDiskDrive[] HardDrives { get; set; }
    public DvdDrive[] DVDDrives { get; set; }
    public VMNetworkAdapter[] NetworkAdapters { get; set; }
  }
  public class VirtualMachine : VirtualMachineBase {
    public string VMName { get; set; }
    public Guid VMId { get; set; }
    public string Status { get; set; }
    public VMHeartbeatStatus? Heartbeat { get; set; }
    public TimeSpan Uptime { get; set; }
    public long MemoryAssigned { get; set; }
    public long MemoryMinimum { get; set; }
    public long MemoryMaximum { get; set; }
    public bool AutomaticCheckpointsEnabled { get; set; }
    public StartAction AutomaticStartAction { get; set; }
    public StopAction AutomaticStopAction { get; set; }
    public CheckpointType CheckpointType { get; set; }
    public string ConfigurationLocation { get; set; }
    public string SnapshotFileLocation { get; set; }
    public VMComPort ComPort1 { get; set; }
    public VMComPort ComPort2 { get; set; }
    public Guid? ParentSnapshotId { get; set; }
    public string ParentSnapshotName { get; set; }
    public string Version { get; set; }
  }
  public class VMSnapshot : VirtualMachineBase {
    public string VMName { get; set; }
    public Guid VMId { get; set; }
    public SnapshotType SnapshotType { get; set; }
    public DateTime CreationTime { get; set; }
    public string ParentSnapshotName { get; set; }
    public Guid? ParentSnapshotId { get; set; }
  }
  public class VMDevice : VMComponentObject {
    public string Name { get; set; }
    public string Id { get; set; }
    public string VMName { get; set; }
    public Guid VMId { get; set; }
    public Guid? VMSnapshotId { get; set; }
    public string VMSnapshotName { get; set; }
  }
  public class Drive : VMDevice {
    public string Path { get; set; }
    public ControllerType ControllerType { get; set; }
    public int ControllerNumber { get; set; }
    public int ControllerLocation { get; set; }
    public string PoolName { get; set; }
  }
  public class HardDrive : Drive { }
  public class HardDiskDrive : HardDrive { public int? DiskNumber { get; set; } }
  public class DvdDrive : Drive { public DvdMediaType DvdMediaType { get; set; } }
  public class VMNetworkAdapterBase : VMDevice {
    public string SwitchName { get; set; }
    public Guid? SwitchId { get; set; }
    public string MacAddress { get; set; }
    public bool DynamicMacAddressEnabled { get; set; }
    public bool IsManagementOs { get; set; }
    public bool IsLegacy { get; set; }
    public bool Connected { get; set; }
    public string[] IPAddresses { get; set; }
    public string[] Status { get; set; }
  }
  public class VMNetworkAdapter : VMNetworkAdapterBase { }
  public class VMInternalNetworkAdapter : VMNetworkAdapterBase { }
  public class VMSwitch : VMComponentObject {
    public string Name { get; set; }
    public Guid Id { get; set; }
    public VMSwitchType SwitchType { get; set; }
    public string Notes { get; set; }
    public bool AllowManagementOS { get; set; }
    public string NetAdapterInterfaceDescription { get; set; }
  }
  public class VMComPort : VMDevice { public string Path { get; set; } public OnOffState DebuggerMode { get; set; } }
  public class VMBootSource {
    public VMBootSourceType BootType { get; set; }
    public string Description { get; set; }
    public string FirmwarePath { get; set; }
    public object Device { get; set; }
  }
  public class VMFirmware : VMComponentObject {
    public string VMName { get; set; }
    public Guid VMId { get; set; }
    public OnOffState SecureBoot { get; set; }
    public string SecureBootTemplate { get; set; }
    public Guid? SecureBootTemplateId { get; set; }
    public VMBootSource[] BootOrder { get; set; }
    public string PreferredNetworkBootProtocol { get; set; }
    public string ConsoleMode { get; set; }
    public OnOffState PauseAfterBootFailure { get; set; }
  }
}
namespace Microsoft.Vhd.PowerShell {
  public enum VhdFormat { Unknown = 0, VHD = 2, VHDX = 3, VHDSet = 4 }
  public enum VhdType { Unknown = 0, Fixed = 2, Dynamic = 3, Differencing = 4 }
  public class VirtualHardDisk {
    public string ComputerName { get; set; }
    public string Path { get; set; }
    public VhdFormat VhdFormat { get; set; }
    public VhdType VhdType { get; set; }
    public ulong FileSize { get; set; }
    public ulong Size { get; set; }
    public string ParentPath { get; set; }
    public string DiskIdentifier { get; set; }
    public bool Attached { get; set; }
    public uint? DiskNumber { get; set; }
    public uint? Number { get; set; }
  }
}
namespace LabctlSim.Fake {
  // Windows identity, for [Security.Principal.WindowsIdentity]::GetCurrent() in preflight.ps1:
  // on Linux the real type throws PlatformNotSupportedException, so the simulator maps the
  // short names (Security.Principal.*, which Windows resolves to System.Security.Principal.*)
  // to these through type accelerators. IsInRole asks the simulated host's state.
  public class WindowsIdentity {
    public static Func<string> CurrentName;
    public static WindowsIdentity GetCurrent() { return new WindowsIdentity(); }
    public string Name { get { return CurrentName == null ? "HVHOST\\Administrator" : CurrentName(); } }
  }
  public class WindowsPrincipal {
    public static Func<bool> Elevated;
    private WindowsIdentity identity;
    public WindowsPrincipal(WindowsIdentity identity) { this.identity = identity; }
    public WindowsIdentity Identity { get { return identity; } }
    public bool IsInRole(object role) {
      string r = role == null ? "" : role.ToString();
      if (r == "Administrator" || r == "544" || r.EndsWith("\\Administrators")) return Elevated == null || Elevated();
      return r == "User" || r == "545";
    }
  }
}
'@

function Initialize-SimHostTypes {
  if ('Microsoft.HyperV.PowerShell.VirtualMachine' -as [type]) { return }
  $sha = [System.Security.Cryptography.SHA256]::Create()
  $hash = -join ($sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($script:HostTypesSource)) | Select-Object -First 8 | ForEach-Object { $_.ToString('x2') })
  $dir = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath 'labctl-sim-types'
  [void][System.IO.Directory]::CreateDirectory($dir)
  $dll = Join-Path -Path $dir -ChildPath "labctl-sim-host-$hash.dll"
  if (-not [System.IO.File]::Exists($dll)) {
    $tmp = "$dll.$PID.tmp"
    Add-Type -TypeDefinition $script:HostTypesSource -OutputAssembly $tmp -OutputType Library
    try { [System.IO.File]::Move($tmp, $dll) } catch { Remove-Item -LiteralPath $tmp -Force -ErrorAction SilentlyContinue }
  }
  if (-not ('Microsoft.HyperV.PowerShell.VirtualMachine' -as [type])) { Add-Type -Path $dll }
}
Initialize-SimHostTypes

# [Security.Principal.WindowsIdentity] and [Security.Principal.WindowsPrincipal] (the short
# names) resolve to the stand-ins above inside the simulator; the full System.* names stay
# the real, Linux-unsupported types
$accelerators = [psobject].Assembly.GetType('System.Management.Automation.TypeAccelerators')
$accelerators::Add('Security.Principal.WindowsIdentity', [LabctlSim.Fake.WindowsIdentity])
$accelerators::Add('Security.Principal.WindowsPrincipal', [LabctlSim.Fake.WindowsPrincipal])
[LabctlSim.Fake.WindowsPrincipal]::Elevated = [Func[bool]] {
  $s = Read-SimState
  if ($script:Context.kind -eq 'guest') { return $true }
  return [bool]$s.host.elevated
}
[LabctlSim.Fake.WindowsIdentity]::CurrentName = [Func[string]] {
  $s = Read-SimState
  if ($script:Context.kind -eq 'guest') { return "$($script:Context.vmId)\Administrator" }
  return "$($s.host.computerName)\Administrator"
}

# ---------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------

<# A timing of the state's config, with a default for keys older states lack. #>
function Get-SimHostTiming([hashtable]$S, [string]$Name, [double]$Default) {
  $t = $S.config.timing
  if ($null -ne $t -and $null -ne $t[$Name]) { return [double]$t[$Name] }
  return $Default
}

function Get-SimHostFailures([hashtable]$S, [string]$Name) {
  $f = $S.config.failures
  if ($null -eq $f -or $null -eq $f[$Name]) { return @() }
  return @($f[$Name])
}

<# Appends to a list of the state (arrays in state.json stay arrays). #>
function Add-SimHostItem([hashtable]$Table, [string]$Key, $Item) {
  $list = New-Object System.Collections.Generic.List[object]
  if ($null -ne $Table[$Key]) { foreach ($i in @($Table[$Key])) { if ($null -ne $i) { $list.Add($i) } } }
  $list.Add($Item)
  $Table[$Key] = $list.ToArray()
}

<# Keeps the items of a list of the state for which $Keep is true. #>
function Select-SimHostItems([hashtable]$Table, [string]$Key, [scriptblock]$Keep) {
  $list = New-Object System.Collections.Generic.List[object]
  if ($null -ne $Table[$Key]) { foreach ($i in @($Table[$Key])) { if ($null -ne $i -and (& $Keep $i)) { $list.Add($i) } } }
  $Table[$Key] = $list.ToArray()
}

<# The one value of a parameter the reference types as an array (Get-Partition -PartitionNumber <UInt32[]>). #>
function Get-SimHostFirst($Value) { if ($Value -is [array]) { return $Value[0] }; return $Value }

function Get-SimHostList($Value) {
  if ($null -eq $Value) { return , @() }
  return , @($Value | Where-Object { $null -ne $_ })
}

<# A time of the state: ConvertFrom-Json already turns ISO 8601 strings into DateTimes. #>
function ConvertTo-SimHostTime($Value) {
  if ($null -eq $Value -or '' -eq $Value) { return $null }
  if ($Value -is [DateTime]) {
    if ($Value.Kind -eq [DateTimeKind]::Unspecified) { return [DateTime]::SpecifyKind($Value, [DateTimeKind]::Utc) }
    return $Value.ToUniversalTime()
  }
  if ($Value -is [DateTimeOffset]) { return $Value.UtcDateTime }
  return [DateTime]::Parse([string]$Value, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind).ToUniversalTime()
}

function Get-SimHostNowText { [DateTime]::UtcNow.ToString('o') }

function Get-SimHostElapsed($Since, [DateTime]$Now) {
  $t = ConvertTo-SimHostTime $Since
  if ($null -eq $t) { return 0.0 }
  return ($Now - $t).TotalSeconds
}

<# Names with PowerShell wildcards, as the Hyper-V cmdlets take them. #>
function Test-SimHostName([string]$Actual, $Patterns) {
  foreach ($p in @($Patterns)) {
    if ($null -eq $p) { continue }
    if ([System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters([string]$p)) {
      if ([System.Management.Automation.WildcardPattern]::new([string]$p, [System.Management.Automation.WildcardOptions]::IgnoreCase).IsMatch($Actual)) { return $true }
    } elseif ($Actual -eq [string]$p) { return $true }
  }
  return $false
}

<# 00155D0A0B0C from any of 00-15-5D-0A-0B-0C, 00:15:5d:..., 00155d... #>
function ConvertTo-SimHostMac([string]$Mac) { ($Mac -replace '[^0-9A-Fa-f]', '').ToUpperInvariant() }
function ConvertTo-SimHostDashedMac([string]$Mac) { ((ConvertTo-SimHostMac $Mac) -split '(..)' | Where-Object { $_ }) -join '-' }

function New-SimHostMac([hashtable]$S) {
  $bytes = New-Object byte[] 3
  [System.Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
  return '00155D' + (($bytes | ForEach-Object { $_.ToString('X2') }) -join '')
}

# ---------------------------------------------------------------------------------------
# files on the simulated host: a virtual disk file names its disk in the state
# ---------------------------------------------------------------------------------------

<# The local file of a host path, or $null when the drive does not exist. #>
function Get-SimHostLocalPath([hashtable]$S, [string]$Path) {
  try { return ConvertTo-SimLocalPath $Path $S } catch { return $null }
}

<# A key for "the same file": its local path, compared without case as NTFS does. #>
function Get-SimHostLocalKey([hashtable]$S, [string]$Path) {
  $local = Get-SimHostLocalPath $S $Path
  if ($null -eq $local) { return Get-SimPathKey $Path }
  return $local.ToLowerInvariant()
}

<# What a file on the host is: @{ kind = 'vhdx'|'iso-ubuntu'|'iso-windows'|'iso9660'|'other'|'missing'; ... } #>
function Get-SimHostFileKind([hashtable]$S, [string]$Path) {
  $local = Get-SimHostLocalPath $S $Path
  if ($null -eq $local -or -not [System.IO.File]::Exists($local)) { return @{ kind = 'missing'; local = $local } }
  $fs = [System.IO.File]::OpenRead($local)
  try {
    $head = New-Object byte[] 4096
    $n = $fs.Read($head, 0, $head.Length)
    $text = [System.Text.Encoding]::ASCII.GetString($head, 0, $n)
    if ($text.StartsWith('LABCTL-SIM-VHDX ')) { return @{ kind = 'vhdx'; local = $local; diskId = $text.Substring(16).Trim() } }
    if ($text.StartsWith('LABCTL-SIM-ISO ')) {
      $line = ($text -split "`n")[0]
      $parts = $line.Split(' ', 3)
      $meta = @{}
      if ($parts.Count -ge 3 -and $parts[2].Trim()) { $meta = ConvertFrom-Json -InputObject $parts[2] -AsHashtable }
      return @{ kind = "iso-$($parts[1])"; local = $local; meta = $meta }
    }
    if ($fs.Length -ge 34816) {
      $pvd = New-Object byte[] 6
      $fs.Position = 32768
      [void]$fs.Read($pvd, 0, 6)
      if ([System.Text.Encoding]::ASCII.GetString($pvd, 1, 5) -eq 'CD001') { return @{ kind = 'iso9660'; local = $local } }
    }
    return @{ kind = 'other'; local = $local }
  } finally { $fs.Dispose() }
}

<# The state's disk for a .vhdx path (by the id the file holds), or $null. Keeps disk.path current. #>
function Get-SimHostDisk([hashtable]$S, [string]$Path) {
  $k = Get-SimHostFileKind $S $Path
  if ($k.kind -ne 'vhdx') { return $null }
  $disk = @($S.disks | Where-Object { $_.id -eq $k.diskId }) | Select-Object -First 1
  if ($null -ne $disk) { $disk.path = $Path }
  return $disk
}

function Get-SimHostDiskById([hashtable]$S, [string]$Id) {
  if (-not $Id) { return $null }
  return @($S.disks | Where-Object { $_.id -eq $Id }) | Select-Object -First 1
}

<# A differencing disk has its parent's disk signature until something gives it its own. #>
function Get-SimHostSignature([hashtable]$S, [hashtable]$Disk) {
  $d = $Disk
  for ($i = 0; $i -lt 32 -and $null -ne $d; $i++) {
    if ($d.signature) { return [string]$d.signature }
    $d = Get-SimHostDiskById $S $d.parentId
  }
  return ''
}

<# The VM (if any) whose drives hold this disk or ISO path. #>
function Get-SimHostUsers([hashtable]$S, [string]$Path, [string]$DiskId) {
  $key = Get-SimHostLocalKey $S $Path
  $out = @()
  foreach ($vm in @($S.vms)) {
    if ($null -eq $vm) { continue }
    foreach ($d in @($vm.hardDisks) + @($vm.dvds)) {
      if ($null -eq $d -or -not $d.path) { continue }
      if ((Get-SimHostLocalKey $S $d.path) -eq $key) { $out += $vm; break }
      if ($DiskId) {
        $other = Get-SimHostFileKind $S $d.path
        if ($other.kind -eq 'vhdx' -and $other.diskId -eq $DiskId) { $out += $vm; break }
      }
    }
  }
  return , $out
}

function Test-SimHostVmOn([hashtable]$Vm) { [string]$Vm.state -notin @('Off', 'Saved') }

<#
  Why a virtual disk or ISO file is open and cannot be deleted, mounted or attached by
  someone else: '' when it is free. A disk is held open while it is mounted on the host or
  attached to a VM that is not off (Hyper-V opens a VM's disks when it starts and closes
  them when it turns off), and a parent disk while any of its children is.
#>
function Get-SimHostInUse([hashtable]$S, [string]$Path, [string]$ExceptVmId = '') {
  $k = Get-SimHostFileKind $S $Path
  if ($k.kind -eq 'vhdx') {
    $disk = Get-SimHostDiskById $S $k.diskId
    if ($null -ne $disk -and $null -ne $disk.mounted) { return "it is mounted on the host as disk $($disk.mounted.number)" }
    foreach ($vm in (Get-SimHostUsers $S $Path $k.diskId)) {
      if ($vm.id -ne $ExceptVmId -and (Test-SimHostVmOn $vm)) { return "virtual machine '$($vm.name)' is $($vm.state) with it attached" }
    }
    foreach ($child in @($S.disks | Where-Object { $_.parentId -eq $k.diskId })) {
      if (-not $child.path) { continue }
      $why = Get-SimHostInUse $S $child.path $ExceptVmId
      if ($why) { return "its differencing disk $($child.path) is in use ($why)" }
    }
    return ''
  }
  if ($k.kind -like 'iso*') {
    $key = Get-SimHostLocalKey $S $Path
    $img = @($S.images | Where-Object { $null -ne $_ -and (Get-SimHostLocalKey $S $_.path) -eq $key }) | Select-Object -First 1
    if ($null -ne $img) { return 'it is mounted on the host' }
    foreach ($vm in (Get-SimHostUsers $S $Path '')) {
      if ($vm.id -ne $ExceptVmId -and (Test-SimHostVmOn $vm)) { return "virtual machine '$($vm.name)' is $($vm.state) with it in a DVD drive" }
    }
  }
  return ''
}

<# The message Windows gives for a file another process holds open (ERROR_SHARING_VIOLATION). #>
function Get-SimHostSharingMessage([string]$Path) { "The process cannot access the file '$Path' because it is being used by another process." }

# ---------------------------------------------------------------------------------------
# chaining: a cmdlet both the host and the guests use (Get-Service, Get-CimInstance, ...)
# ---------------------------------------------------------------------------------------

<#
  Registers the host's side of a cmdlet without taking away a guest side registered before
  (behaviours/guest-*.ps1 load before host-*.ps1): calls made inside a guest go to that one.
#>
function Register-SimHostCmdlet([string]$Name, [scriptblock]$HostBody) {
  # (the closures below run in a module of their own: they call exported functions only)
  $previous = $script:Behaviours[$Name]
  $hb = $HostBody
  $body = {
    param($c)
    if ($c.Ctx.kind -eq 'host') { return & $hb $c }
    if ($null -ne $previous) { return & $previous $c }
    Stop-Sim "the simulated host does not implement $($c.Name) inside a guest (add it to a behaviours/guest-*.ps1)" 'NotImplemented'
  }.GetNewClosure()
  Register-SimCmdlet $Name $body
}

<# The same for an intercepted core cmdlet: the host's test, or the guest side's one. #>
function Register-SimHostIntercept([string]$Name, [scriptblock]$HostTest) {
  $previous = $script:Intercepts[$Name]
  $ht = $HostTest
  $test = {
    param($bound)
    if ((Get-SimContext).kind -eq 'host') { return [bool](& $ht $bound) }
    if ($null -ne $previous) { return [bool](& $previous $bound) }
    return $false
  }.GetNewClosure()
  Register-SimIntercept $Name $test
}
