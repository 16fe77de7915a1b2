# PowerShell Direct: Invoke-Command -VMName/-VMId/-Session, New-PSSession -VMName/-VMId,
# Remove-PSSession, Copy-Item -ToSession/-FromSession, from the host into a Windows guest.
#
# Who may connect (Microsoft Learn, "Manage Windows virtual machines with PowerShell Direct",
# MicrosoftDocs/windowsserverdocs WindowsServerDocs/virtualization/hyper-v/manage/
# Manage-Windows-virtual-machines-with-PowerShell-Direct.md, "What's required"): the VM must be
# running locally on the host and booted, and the caller must supply valid user credentials for
# the VM. How the cmdlets refuse (PowerShell's own code and strings, PowerShell/PowerShell
# src/System.Management.Automation/engine/remoting/commands/newrunspacecommand.cs and
# PSRemotingCmdlet.cs, resources/RemotingErrorIdStrings.resx): the VM is looked up by name (Get-VM)
# and must be exactly one ("The input VMName {0} does not resolve to a single virtual machine.",
# InvalidVMNameNotSingle) and Running ("The virtual machine {0} is not in running state.",
# InvalidVMState), both written as non-terminating errors; then the guest checks the credential
# ("The credential is invalid.", RemoteSessionHyperVSocket.cs). A guest that is not up (booting,
# still in setup, restarting, or with no PowerShell Direct service) fails the session open with
# "An error has occurred which Windows PowerShell cannot handle. A remote session might have
# ended." (FatalErrorCausingClose; as Windows PowerShell 5.1 prints it for New-PSSession -VMId,
# seflerZ/oneclick-gpu-pv issue 3).
#
# A script block runs as remoting runs it: its text in a fresh runspace of that guest (no
# variable of the caller leaks in; arguments only by -ArgumentList; $using: is not simulated),
# arguments and results serialized and deserialized as remoting does (PSSerializer, depth 1;
# results carry PSComputerName), remote errors written as Invoke-Command's own non-terminating
# errors. The runspace has the guest's C: drive, its environment ($env:COMPUTERNAME,
# $env:ProgramFiles, ...), the guest's modules only, and the simulator with the guest context, so
# guest cmdlets act on that guest's state. A New-PSSession session keeps its runspace across
# Invoke-Command -Session calls until Remove-PSSession; a guest restart breaks it.

$script:SimSessionNext = 1

Register-SimIntercept 'Invoke-Command' { param($b) $b.ContainsKey('VMName') -or $b.ContainsKey('VMId') -or $b.ContainsKey('Session') }
Register-SimIntercept 'New-PSSession' { param($b) $b.ContainsKey('VMName') -or $b.ContainsKey('VMId') }
Register-SimIntercept 'Remove-PSSession' { param($b) $b.ContainsKey('Session') -or $b.ContainsKey('VMName') -or $b.ContainsKey('VMId') -or $b.ContainsKey('Id') }
Register-SimIntercept 'Copy-Item' { param($b) $b.ContainsKey('ToSession') -or $b.ContainsKey('FromSession') }

function Write-SimDirectError($c, [string]$Message, [string]$Category, [string]$ErrorId, $Target = $null) {
  $c.Cmdlet.WriteError((New-SimErrorRecord $Message $Category $Target $ErrorId $c.Name))
}

<# The VMs a -VMName/-VMId call names: @{ id; name } each; the refusals as @{ message; id; category }. #>
function Resolve-SimDirectTargets($c) {
  $byName = $c.P.ContainsKey('VMName')
  $keys = $(if ($byName) { @($c.P.VMName) } else { @($c.P.VMId | ForEach-Object { ([string]$_).ToLowerInvariant() }) })
  Use-SimState {
    param($S)
    $out = New-Object System.Collections.Generic.List[object]
    foreach ($k in $keys) {
      $m = @(if ($byName) { $S.vms | Where-Object { $_.name -eq $k } } else { $S.vms | Where-Object { ([string]$_.id).ToLowerInvariant() -eq $k } })
      if ($m.Count -ne 1) {
        if ($byName) { $out.Add(@{ message = "The input VMName $k does not resolve to a single virtual machine."; id = 'InvalidVMNameNotSingle'; category = 'InvalidArgument' }) }
        else { $out.Add(@{ message = "The input VMId $k does not resolve to a single virtual machine."; id = 'InvalidVMIdNotSingle'; category = 'InvalidArgument' }) }
        continue
      }
      $vm = $m[0]
      if ($vm.state -ne 'Running') { $out.Add(@{ message = "The virtual machine $($vm.name) is not in running state."; id = 'InvalidVMState'; category = 'InvalidArgument' }); continue }
      $out.Add(@{ vmId = [string]$vm.id; vmName = [string]$vm.name })
    }
    , $out
  }
}

<# $null when the guest answers PowerShell Direct with this credential, else the refusal. #>
function Test-SimDirectGuest([hashtable]$S, [string]$VmId, [pscredential]$Credential) {
  $vm = Get-SimVmById $S $VmId
  if ($null -eq $vm) { return @{ message = "The input VMId $VmId does not resolve to a single virtual machine."; id = 'InvalidVMIdNotSingle'; category = 'InvalidArgument' } }
  if ($vm.state -ne 'Running') { return @{ message = "The virtual machine $($vm.name) is not in running state."; id = 'InvalidVMState'; category = 'InvalidArgument' } }
  $g = $vm.guest
  $up = $null -ne $g -and $g.os -eq 'windows' -and $g.phase -eq 'ready' -and -not ($null -ne $g.boot -and $g.boot.rebootAt)
  if (-not $up) {
    return @{ message = "[$($vm.name)] An error has occurred which Windows PowerShell cannot handle. A remote session might have ended."; id = 'PSSessionOpenFailed'; category = 'OpenError' }
  }
  if ($null -ne $Credential) {
    $net = $Credential.GetNetworkCredential()
    $user = [string]$Credential.UserName
    $okUser = $user -in @('Administrator', '.\Administrator', "$($g.computerName)\Administrator")
    if (-not $okUser -or -not $g.adminPassword -or $net.Password -cne [string]$g.adminPassword) {
      return @{ message = 'The credential is invalid.'; id = 'PSSessionOpenFailed'; category = 'OpenError' }
    }
  }
  return $null
}

# ---------------------------------------------------------------------------------------
# the guest's runspace: environment, modules, the simulator in guest context
# ---------------------------------------------------------------------------------------

<#
  The modules a guest has: the simulated Windows modules except Hyper-V (a guest is not a
  Hyper-V host) and WebAdministration/IISAdministration, which come with "IIS Management Scripts
  and Tools" (Web-Scripting-Tools: "Provides an infrastructure to programmatically manage an IIS
  7.0 or later Web server by using commands in a command window or by running scripts",
  iis-docs iis/install/installing-iis-85/installing-iis-85-on-windows-server-2012-r2.md).
  A folder of links per guest, put first on PSModulePath while the guest's code runs.
#>
function Update-SimGuestModules([hashtable]$vm) {
  $source = Join-Path -Path (Get-SimHome) -ChildPath '.generated/modules'
  $dir = Join-Path -Path (Get-SimHome) -ChildPath ('guests/{0}/modules' -f $vm.id)
  [void][System.IO.Directory]::CreateDirectory($dir)
  $features = $vm.guest.features
  foreach ($m in [System.IO.Directory]::GetDirectories($source)) {
    $name = [System.IO.Path]::GetFileName($m)
    $want = $name -ne 'Hyper-V'
    if ($name -in @('WebAdministration', 'IISAdministration')) { $want = $null -ne $features -and [bool]$features['Web-Scripting-Tools'] }
    $link = Join-Path -Path $dir -ChildPath $name
    $have = [System.IO.Directory]::Exists($link)
    if ($want -and -not $have) { [void][System.IO.Directory]::CreateSymbolicLink($link, $m) }
    if (-not $want -and $have) { [System.IO.Directory]::Delete($link) }
  }
  return $dir
}

function Get-SimGuestEnvironment([hashtable]$vm, [string]$ModuleDir) {
  $name = [string]$vm.guest.computerName
  if (-not $name) { $name = ([string]$vm.name).ToUpperInvariant() }
  [ordered]@{
    COMPUTERNAME           = $name
    USERNAME               = 'Administrator'
    USERDOMAIN             = $name
    USERPROFILE            = 'C:\Users\Administrator'
    HOMEDRIVE              = 'C:'
    HOMEPATH               = '\Users\Administrator'
    APPDATA                = 'C:\Users\Administrator\AppData\Roaming'
    LOCALAPPDATA           = 'C:\Users\Administrator\AppData\Local'
    TEMP                   = 'C:\Users\Administrator\AppData\Local\Temp'
    TMP                    = 'C:\Users\Administrator\AppData\Local\Temp'
    ProgramFiles           = 'C:\Program Files'
    'ProgramFiles(x86)'    = 'C:\Program Files (x86)'
    ProgramW6432           = 'C:\Program Files'
    CommonProgramFiles     = 'C:\Program Files\Common Files'
    ProgramData            = 'C:\ProgramData'
    ALLUSERSPROFILE        = 'C:\ProgramData'
    PUBLIC                 = 'C:\Users\Public'
    SystemDrive            = 'C:'
    SystemRoot             = 'C:\Windows'
    windir                 = 'C:\Windows'
    OS                     = 'Windows_NT'
    PROCESSOR_ARCHITECTURE = 'AMD64'
    NUMBER_OF_PROCESSORS   = [string]$(if ($vm.processorCount) { $vm.processorCount } else { 2 })
    PSModulePath           = $ModuleDir + [System.IO.Path]::PathSeparator + (Join-Path -Path $PSHOME -ChildPath 'Modules')
  }
}

<#
  The environment is the process's, shared by the host's runspace and the guest's: while the
  guest's code runs (the host's runspace waits for it), the process has the guest's variables,
  and the host's come back afterwards.
#>
function Enter-SimGuestEnvironment([System.Collections.IDictionary]$Vars) {
  $saved = @{}
  foreach ($k in $Vars.Keys) {
    $saved[$k] = [System.Environment]::GetEnvironmentVariable($k)
    [System.Environment]::SetEnvironmentVariable($k, [string]$Vars[$k])
  }
  return $saved
}

function Exit-SimGuestEnvironment([hashtable]$Saved) {
  foreach ($k in $Saved.Keys) { [System.Environment]::SetEnvironmentVariable($k, $Saved[$k]) }
}

function Get-SimGuestEnvironmentNow([string]$VmId) {
  Use-SimState {
    param($S)
    $vm = Get-SimVmById $S $VmId
    if ($null -eq $vm) { return $null }
    Initialize-SimGuest $S $vm
    Get-SimGuestEnvironment $vm (Update-SimGuestModules $vm)
  }
}

$script:SimGuestInit = @'
param($Runtime, $Core, $VmId)
Import-Module -Name $Runtime -Global -DisableNameChecking
LabctlSim\Set-SimContext -Kind 'guest' -VmId $VmId
Import-Module -Name $Core -Global -DisableNameChecking
LabctlSim\Sync-SimDrives
Set-Location -LiteralPath 'C:\Users\Administrator\Documents'
(LabctlSim\Get-SimContext).kind
'@

<# Opens a runspace in the guest (the remote end of a PowerShell Direct session). #>
function Open-SimDirectSession([string]$VmId, [string]$VmName) {
  $vars = Get-SimGuestEnvironmentNow $VmId
  $boot = Use-SimState { param($S) (Get-SimVmById $S $VmId).guest.boot.count }
  $saved = Enter-SimGuestEnvironment $vars
  try {
    $iss = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    $rs = [System.Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace($iss)
    $rs.Open()
    $ps = [powershell]::Create()
    try {
      $ps.Runspace = $rs
      $runtime = Join-Path -Path $env:LABCTL_SIM_RUNTIME -ChildPath 'LabctlSim.psm1'
      $core = Join-Path -Path (Get-SimHome) -ChildPath '.generated/LabctlSimCore.psm1'
      [void]$ps.AddScript($script:SimGuestInit).AddArgument($runtime).AddArgument($core).AddArgument($VmId)
      # errors of a behaviour file that does not load are the host session's too: only whether
      # the runspace ends up inside the guest decides
      $kind = @($ps.Invoke()) | Select-Object -Last 1
      if ($kind -ne 'guest') { throw "the simulated guest's runspace did not start: $(@($ps.Streams.Error) -join '; ')" }
    } finally { $ps.Dispose() }
  } finally {
    Exit-SimGuestEnvironment $saved
  }
  $id = $script:SimSessionNext++
  $object = New-SimObject @('System.Management.Automation.Runspaces.PSSession') ([ordered]@{
      Id                = $id
      Name              = "Session$id"
      ComputerName      = $VmName
      ComputerType      = 'VirtualMachine'
      VMName            = $VmName
      VMId              = [guid]$VmId
      State             = 'Opened'
      ConfigurationName = 'Microsoft.PowerShell'
      Availability      = 'Available'
      InstanceId        = [guid]::NewGuid()
      Runspace          = $rs
    })
  $session = @{ Id = $id; Runspace = $rs; VmId = $VmId; VmName = $VmName; Boot = $boot; Object = $object }
  $script:Sessions[$id] = $session
  return $session
}

function Close-SimDirectSession([hashtable]$Session) {
  try { $Session.Runspace.Close() } catch { }
  $Session.Runspace.Dispose()
  $Session.Object.State = 'Closed'
  $Session.Object.Availability = 'None'
  $script:Sessions.Remove($Session.Id)
}

<# $null when a session can still run code: its VM runs and has not restarted since it opened. #>
function Test-SimDirectSessionAlive([hashtable]$Session) {
  Use-SimState {
    param($S)
    $problem = Test-SimDirectGuest $S $Session.VmId $null
    if ($null -ne $problem) { return $problem }
    if ([int](Get-SimVmById $S $Session.VmId).guest.boot.count -ne [int]$Session.Boot) {
      return @{ message = "[$($Session.VmName)] An error has occurred which Windows PowerShell cannot handle. A remote session might have ended."; id = 'PSSessionStateBroken'; category = 'OpenError' }
    }
    $null
  }
}

function ConvertTo-SimRemoteCopy($Value) {
  if ($null -eq $Value) { return $null }
  [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($Value, 1))
}

function ConvertTo-SimRemoteError([System.Management.Automation.ErrorRecord]$Record, [string]$VmName) {
  $ex = New-Object System.Management.Automation.RemoteException -ArgumentList $Record.Exception.Message
  $r = New-Object System.Management.Automation.ErrorRecord -ArgumentList $ex, $Record.FullyQualifiedErrorId, $Record.CategoryInfo.Category, $Record.TargetObject
  return $r
}

<# Runs script text with arguments in a session's runspace; what it outputs and writes comes back as remoting brings it. #>
function Invoke-SimGuestScript($c, [hashtable]$Session, [string]$Text, [object[]]$Arguments) {
  $vars = Get-SimGuestEnvironmentNow $Session.VmId
  $ps = [powershell]::Create()
  try {
    $ps.Runspace = $Session.Runspace
    [void]$ps.AddScript($Text)
    foreach ($a in $Arguments) { [void]$ps.AddArgument((ConvertTo-SimRemoteCopy $a)) }
    # the output written before a terminating error still comes back (remoting streams it)
    $in = New-Object 'System.Management.Automation.PSDataCollection[psobject]'
    $in.Complete()
    $out = New-Object 'System.Management.Automation.PSDataCollection[psobject]'
    # (BeginInvoke and a wait rather than Invoke: a failed guest pipeline must not become an
    # exception here, which -ErrorVariable of Invoke-Command would collect as well)
    $saved = Enter-SimGuestEnvironment $vars
    try {
      $async = $ps.BeginInvoke($in, $out)
      [void]$async.AsyncWaitHandle.WaitOne()
    } finally { Exit-SimGuestEnvironment $saved }
    $fatal = $null
    if ($ps.InvocationStateInfo.State -eq 'Failed' -and $null -ne $ps.InvocationStateInfo.Reason) { $fatal = $ps.InvocationStateInfo.Reason }
    foreach ($w in $ps.Streams.Warning) { $c.Cmdlet.WriteWarning($w.Message) }
    foreach ($v in $ps.Streams.Verbose) { $c.Cmdlet.WriteVerbose($v.Message) }
    foreach ($i in $ps.Streams.Information) { $c.Cmdlet.WriteInformation($i) }
    foreach ($o in $out) {
      if ($null -eq $o) { continue }
      $copy = [psobject]::AsPSObject((ConvertTo-SimRemoteCopy $o))
      $copy.PSObject.Properties.Add((New-Object System.Management.Automation.PSNoteProperty -ArgumentList 'PSComputerName', $Session.VmName))
      $copy.PSObject.Properties.Add((New-Object System.Management.Automation.PSNoteProperty -ArgumentList 'RunspaceId', $Session.Runspace.InstanceId))
      $copy.PSObject.Properties.Add((New-Object System.Management.Automation.PSNoteProperty -ArgumentList 'PSShowComputerName', $true))
      $c.Cmdlet.WriteObject($copy)
    }
    foreach ($e in $ps.Streams.Error) { $c.Cmdlet.WriteError((ConvertTo-SimRemoteError $e $Session.VmName)) }
    if ($null -ne $fatal) {
      $record = $(if ($fatal -is [System.Management.Automation.IContainsErrorRecord]) { $fatal.ErrorRecord } else { New-Object System.Management.Automation.ErrorRecord -ArgumentList $fatal, 'RemoteScriptFailed', 'NotSpecified', $null })
      $c.Cmdlet.WriteError((ConvertTo-SimRemoteError $record $Session.VmName))
    }
  } finally {
    $ps.Dispose()
  }
}

function Get-SimCommandText($c) {
  if ($c.P.ContainsKey('FilePath')) {
    $file = ConvertTo-SimLocalPath ([string]$c.P.FilePath) $null
    if (-not [System.IO.File]::Exists($file)) { Stop-Sim "Cannot find path '$($c.P.FilePath)' because it does not exist." 'ObjectNotFound' $c.P.FilePath }
    return [System.IO.File]::ReadAllText($file)
  }
  $text = $c.P.ScriptBlock.ToString()
  if ($text -match '\$using:') { Stop-Sim 'the simulated PowerShell Direct does not substitute $using: variables: pass values with -ArgumentList' 'NotImplemented' }
  return $text
}

Register-SimCmdlet 'Invoke-Command' -Unlocked {
  param($c)
  if ($c.P.AsJob -or $c.P.InDisconnectedSession -or $c.P.ContainsKey('InputObject')) {
    Stop-Sim 'the simulated PowerShell Direct runs commands synchronously with -ArgumentList only (no -AsJob, -InDisconnectedSession, -InputObject)' 'NotImplemented'
  }
  $text = Get-SimCommandText $c
  $arguments = @($c.P.ArgumentList)
  if ($c.P.ContainsKey('Session')) {
    foreach ($so in @($c.P.Session)) {
      $s = $script:Sessions[[int]$so.Id]
      if ($null -eq $s) { Write-SimDirectError $c "Because the session state for session $($so.Name), $($so.InstanceId), $($so.ComputerName) is not equal to Open, you cannot run a command in the session.  The session state is $($so.State)." 'InvalidOperation' 'InvalidSessionState' $so; continue }
      $problem = Test-SimDirectSessionAlive $s
      if ($null -ne $problem) { $s.Object.State = 'Broken'; Write-SimDirectError $c $problem.message $problem.category $problem.id; continue }
      Invoke-SimGuestScript $c $s $text $arguments
    }
    return
  }
  foreach ($t in (Resolve-SimDirectTargets $c)) {
    if ($t.message) { Write-SimDirectError $c $t.message $t.category $t.id; continue }
    $problem = Use-SimState { param($S) Test-SimDirectGuest $S $t.vmId $c.P.Credential }
    if ($null -ne $problem) { Write-SimDirectError $c $problem.message $problem.category $problem.id; continue }
    $s = Open-SimDirectSession $t.vmId $t.vmName
    try { Invoke-SimGuestScript $c $s $text $arguments } finally { Close-SimDirectSession $s }
  }
}

Register-SimCmdlet 'New-PSSession' -Unlocked {
  param($c)
  foreach ($t in (Resolve-SimDirectTargets $c)) {
    if ($t.message) { Write-SimDirectError $c $t.message $t.category $t.id; continue }
    $problem = Use-SimState { param($S) Test-SimDirectGuest $S $t.vmId $c.P.Credential }
    if ($null -ne $problem) { Write-SimDirectError $c $problem.message $problem.category $problem.id; continue }
    (Open-SimDirectSession $t.vmId $t.vmName).Object
  }
}

Register-SimCmdlet 'Remove-PSSession' -Unlocked {
  param($c)
  $targets = @()
  if ($c.P.ContainsKey('Session')) { $targets = @($c.P.Session | ForEach-Object { $script:Sessions[[int]$_.Id] }) }
  elseif ($c.P.ContainsKey('Id')) { $targets = @($c.P.Id | ForEach-Object { $script:Sessions[[int]$_] }) }
  elseif ($c.P.ContainsKey('VMName')) { $targets = @($script:Sessions.Values | Where-Object { $_.VmName -in @($c.P.VMName) }) }
  elseif ($c.P.ContainsKey('VMId')) { $ids = @($c.P.VMId | ForEach-Object { ([string]$_).ToLowerInvariant() }); $targets = @($script:Sessions.Values | Where-Object { $_.VmId.ToLowerInvariant() -in $ids }) }
  foreach ($s in @($targets | Where-Object { $null -ne $_ })) { Close-SimDirectSession $s }
}

# ---------------------------------------------------------------------------------------
# Copy-Item -ToSession / -FromSession: files between the host and a guest's drives, with the
# real cmdlet's rules: a file or (with -Recurse) a folder; into an existing folder it lands under
# its own name, else it becomes the destination; the destination's parent must exist
# (Microsoft Learn Copy-Item, Microsoft.PowerShell.Management, examples "Copy a file to the
# specified directory", "Copy directory contents ... recursively", "-ToSession"/"-FromSession").
# ---------------------------------------------------------------------------------------

function ConvertTo-SimGuestLocalPath([hashtable]$vm, [string]$Path) {
  $p = $Path
  if ($p -notmatch '^[A-Za-z]:') { $p = 'C:\Users\Administrator\Documents\' + $p }
  $null = $p -match '^([A-Za-z]):[\\/]?(.*)$'
  $letter = $Matches[1].ToUpperInvariant()
  $root = $vm.guest.drives[$letter]
  if ($null -eq $root) { Stop-Sim "Cannot find drive. A drive with the name '$letter' does not exist." 'ObjectNotFound' $Path 'DriveNotFound' }
  $rest = ($Matches[2] -replace '\\', '/').Trim('/')
  if (-not $rest) { return [string]$root }
  return (Join-Path -Path $root -ChildPath $rest)
}

function Copy-SimItem([string]$Source, [string]$Destination, [bool]$Recurse, [string]$ShownSource, [string]$ShownDestination) {
  $isFile = [System.IO.File]::Exists($Source)
  $isDir = [System.IO.Directory]::Exists($Source)
  if (-not $isFile -and -not $isDir) { Stop-Sim "Cannot find path '$ShownSource' because it does not exist." 'ObjectNotFound' $ShownSource 'PathNotFound' }
  $target = $Destination.TrimEnd('/')
  if ([System.IO.Directory]::Exists($target)) { $target = Join-Path -Path $target -ChildPath ([System.IO.Path]::GetFileName($Source.TrimEnd('/'))) }
  $parent = [System.IO.Path]::GetDirectoryName($target)
  if (-not [System.IO.Directory]::Exists($parent)) { Stop-Sim "Could not find a part of the path '$ShownDestination'." 'WriteError' $ShownDestination 'CopyError' }
  if ($isFile) { [System.IO.File]::Copy($Source, $target, $true); return }
  [void][System.IO.Directory]::CreateDirectory($target)
  if ($Recurse) { Copy-SimTree $Source $target }
}

<# The contents of a folder into another, all the way down. #>
function Copy-SimTree([string]$From, [string]$To) {
  foreach ($f in [System.IO.Directory]::GetFiles($From)) { [System.IO.File]::Copy($f, (Join-Path $To ([System.IO.Path]::GetFileName($f))), $true) }
  foreach ($d in [System.IO.Directory]::GetDirectories($From)) {
    $sub = Join-Path $To ([System.IO.Path]::GetFileName($d))
    [void][System.IO.Directory]::CreateDirectory($sub)
    Copy-SimTree $d $sub
  }
}

Register-SimCmdlet 'Copy-Item' {
  param($c)
  $toGuest = $c.P.ContainsKey('ToSession')
  $so = $(if ($toGuest) { $c.P.ToSession } else { $c.P.FromSession })
  $s = $script:Sessions[[int]$so.Id]
  if ($null -eq $s) { Stop-Sim "The PSSession $($so.Name) is not open (its state is $($so.State))." 'InvalidOperation' $so 'InvalidSessionState' }
  $problem = Test-SimDirectGuest $c.S $s.VmId $null
  if ($null -ne $problem) { Stop-Sim $problem.message $problem.category $so $problem.id }
  $vm = Get-SimVmById $c.S $s.VmId
  $literal = $c.P.ContainsKey('LiteralPath')
  $sources = $(if ($literal) { @($c.P.LiteralPath) } else { @($c.P.Path) })
  foreach ($src in $sources) {
    if ($toGuest) {
      $local = @()
      if ($literal) { $local = @(ConvertTo-SimLocalPath $src $c.S) }
      else {
        $resolved = @(Resolve-Path -Path $src -ErrorAction SilentlyContinue | ForEach-Object { $_.ProviderPath })
        if ($resolved.Count -eq 0) { Stop-Sim "Cannot find path '$src' because it does not exist." 'ObjectNotFound' $src 'PathNotFound' }
        $local = $resolved
      }
      foreach ($l in $local) { Copy-SimItem $l (ConvertTo-SimGuestLocalPath $vm ([string]$c.P.Destination)) ([bool]$c.P.Recurse) $src ([string]$c.P.Destination) }
    } else {
      $l = ConvertTo-SimGuestLocalPath $vm $src
      Copy-SimItem $l (ConvertTo-SimLocalPath ([string]$c.P.Destination) $c.S) ([bool]$c.P.Recurse) $src ([string]$c.P.Destination)
    }
  }
}
