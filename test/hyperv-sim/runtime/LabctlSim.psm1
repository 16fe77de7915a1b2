# The simulated Windows host's runtime: one stateful host shared by every PowerShell session
# that labctl's runner opens (it keeps up to four), kept in $env:LABCTL_SIM_HOME:
#
#   state.json     the host, its VMs, switches, NATs, disks and, inside each Windows guest,
#                  features, services, registry, firewall, MSIs, IIS (schema: ../README.md)
#   state.lock     held while one cmdlet reads and changes the state (sessions are processes)
#   host/C/        the host's C: drive (a PSDrive over this folder)
#   disks/<id>/<n>/  the files of partition n of a virtual disk (a mounted VHDX or an ISO)
#
# Every generated cmdlet (generate.mjs) calls Invoke-SimCmdlet with its bound parameters; the
# behaviour registered for that cmdlet (behaviours/*.ps1) reads and changes the state under
# the lock. A behaviour's terminating error leaves the state as it was (cmdlets fail whole);
# its non-terminating errors are written after the state is saved, through the calling
# cmdlet's own $PSCmdlet, so -ErrorAction and $ErrorActionPreference act on them as on a
# real cmdlet's.
Set-StrictMode -Off

$script:SimHome = $env:LABCTL_SIM_HOME
if (-not $script:SimHome) { throw 'LABCTL_SIM_HOME is not set: the simulated host keeps its state there' }
$script:Behaviours = @{}
$script:Intercepts = @{}
# where this runspace is: the host, or inside a guest (PowerShell Direct)
$script:Context = @{ kind = 'host'; vmId = $null }
$script:LockDepth = 0
$script:LockStream = $null
$script:State = $null
$script:Dirty = $false
$script:Drives = New-Object System.Collections.Generic.List[string]
$script:Sessions = @{}

# trace.log: one line per cmdlet call and per long lock wait (pid, time), so a test whose call
# got no answer can show where each session was (host.ts traceTail)
function Write-SimTrace([string]$Text) {
  try {
    $line = '{0:HH:mm:ss.fff} {1,6} {2}{3}' -f [DateTime]::UtcNow, $PID, $Text, [Environment]::NewLine
    [System.IO.File]::AppendAllText((Join-Path -Path $script:SimHome -ChildPath 'trace.log'), $line)
  } catch { }
}

function Get-SimHome { $script:SimHome }
function Get-SimContext { $script:Context }
function Set-SimContext([string]$Kind, [string]$VmId) { $script:Context = @{ kind = $Kind; vmId = $VmId } }

# ---------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------

<#
  Registers what a cmdlet does. $Body gets one argument, a hashtable:
    S       the state (a hashtable; change it in place)
    P       the bound parameters (a hashtable)
    Cmdlet  the generated function's $PSCmdlet (ParameterSetName, ShouldProcess, …)
    Ctx     where the call runs: @{ kind = 'host'|'guest'; vmId }
    Error   scriptblock: & $c.Error 'message' 'Category' $target  -> a non-terminating error
  What the body outputs is the cmdlet's output. To fail the whole call, throw (Stop-Sim).

  -Unlocked: the body runs without the state lock and with S = $null, taking the state itself
  with Use-SimState for each moment it looks or changes something (as a native program does).
  For cmdlets that run other code or wait: PowerShell Direct runs a script block in a guest
  runspace whose cmdlets take the lock themselves, Start-Process -Wait waits for msiexec.
#>
$script:Unlocked = New-Object 'System.Collections.Generic.HashSet[string]'
function Register-SimCmdlet([string]$Name, [scriptblock]$Body, [switch]$Unlocked) {
  $script:Behaviours[$Name] = $Body
  if ($Unlocked) { [void]$script:Unlocked.Add($Name) } else { [void]$script:Unlocked.Remove($Name) }
}

<# For intercepted core cmdlets: $Test gets the bound parameters and says whether the simulator
   handles this call (else the real cmdlet runs). #>
function Register-SimIntercept([string]$Name, [scriptblock]$Test) { $script:Intercepts[$Name] = $Test }

function Test-SimIntercept([string]$Name, [hashtable]$Bound) {
  $test = $script:Intercepts[$Name]
  if ($null -eq $test) { return $false }
  return [bool](& $test $Bound)
}

# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------

class SimFailure : System.Exception {
  [string]$Category
  [object]$Target
  [string]$ErrorId
  SimFailure([string]$message, [string]$category, [object]$target, [string]$errorId) : base($message) {
    $this.Category = $category; $this.Target = $target; $this.ErrorId = $errorId
  }
}

<# Ends the current cmdlet with a terminating error; the state is not saved. #>
function Stop-Sim([string]$Message, [string]$Category = 'InvalidOperation', $Target = $null, [string]$ErrorId = '') {
  throw [SimFailure]::new($Message, $Category, $Target, $ErrorId)
}

function New-SimErrorRecord([string]$Message, [string]$Category, $Target, [string]$ErrorId, [string]$Name) {
  $cat = [System.Management.Automation.ErrorCategory]::NotSpecified
  [void][System.Enum]::TryParse([System.Management.Automation.ErrorCategory], $Category, $true, [ref]$cat)
  $id = $(if ($ErrorId) { $ErrorId } else { "Sim.$Name" })
  $exception = New-Object System.Exception -ArgumentList $Message
  return New-Object System.Management.Automation.ErrorRecord -ArgumentList $exception, ('{0},{1}' -f $id, $Name), $cat, $Target
}

# ---------------------------------------------------------------------------------------
# state: one lock, load, save
# ---------------------------------------------------------------------------------------

function Get-SimStatePath { Join-Path -Path $script:SimHome -ChildPath 'state.json' }

function Enter-SimLock {
  if ($script:LockDepth -gt 0) { $script:LockDepth++; return }
  $file = Join-Path -Path $script:SimHome -ChildPath 'state.lock'
  $deadline = [DateTime]::UtcNow.AddSeconds(120)
  $since = [DateTime]::UtcNow
  $told = $false
  while ($true) {
    try {
      $script:LockStream = [System.IO.File]::Open($file, [System.IO.FileMode]::OpenOrCreate, [System.IO.FileAccess]::ReadWrite, [System.IO.FileShare]::None)
      break
    } catch [System.IO.IOException] {
      if ([DateTime]::UtcNow -gt $deadline) { throw "the simulated host's state is locked by another session for 120 s: $file" }
      if (-not $told -and ([DateTime]::UtcNow - $since).TotalSeconds -gt 2) { Write-SimTrace 'waiting for the state lock'; $told = $true }
      Start-Sleep -Milliseconds 15
    }
  }
  $script:LockDepth = 1
}

function Exit-SimLock {
  $script:LockDepth--
  if ($script:LockDepth -gt 0) { return }
  $script:LockDepth = 0
  if ($null -ne $script:LockStream) { $script:LockStream.Dispose(); $script:LockStream = $null }
}

function Read-SimState {
  $text = [System.IO.File]::ReadAllText((Get-SimStatePath))
  return ConvertFrom-Json -InputObject $text -AsHashtable -Depth 64
}

function Write-SimState([hashtable]$State) {
  $path = Get-SimStatePath
  $tmp = "$path.$PID.tmp"
  [System.IO.File]::WriteAllText($tmp, (ConvertTo-Json -InputObject $State -Depth 64))
  [System.IO.File]::Move($tmp, $path, $true)
}

<#
  Runs $Action with the state locked and loaded (time-driven changes applied first: VMs that
  finished booting, installers that finished). Saves when $Action returns normally.
#>
function Use-SimState([scriptblock]$Action) {
  Enter-SimLock
  $outer = $script:State
  try {
    if ($null -eq $outer) {
      $script:State = Read-SimState
      Update-SimTime $script:State
    }
    $result = & $Action $script:State
    if ($null -eq $outer) { Write-SimState $script:State }
    return $result
  } finally {
    if ($null -eq $outer) { $script:State = $null }
    Exit-SimLock
  }
}

<# Time-driven changes: behaviours register one with Register-SimClock (VM boot, install, setup). #>
$script:Clocks = New-Object System.Collections.Generic.List[scriptblock]
function Register-SimClock([scriptblock]$Tick) { $script:Clocks.Add($Tick) }
function Update-SimTime([hashtable]$State) {
  $now = [DateTime]::UtcNow
  foreach ($tick in $script:Clocks) { & $tick $State $now }
}

function Get-SimNow { [DateTime]::UtcNow }
function Get-SimTiming([hashtable]$State, [string]$Name) {
  $t = $State.config.timing
  if ($null -ne $t -and $null -ne $t[$Name]) { return [double]$t[$Name] }
  return 1.0
}

# ---------------------------------------------------------------------------------------
# dispatch
# ---------------------------------------------------------------------------------------

function Invoke-SimCmdlet {
  param(
    [Parameter(Mandatory = $true)][string]$Name,
    [string]$Module = '',
    [Parameter(Mandatory = $true)]$Cmdlet,
    [Parameter(Mandatory = $true)][hashtable]$Bound
  )
  $body = $script:Behaviours[$Name]
  if ($null -eq $body) {
    $record = New-SimErrorRecord "the simulated host does not implement $Name (module $Module): add a behaviour in test/hyperv-sim/behaviours" 'NotImplemented' $null 'Sim.NotImplemented' $Name
    $Cmdlet.ThrowTerminatingError($record)
  }
  # A function of a script module sees the preference variables of the global scope, not of the
  # script that called it; a compiled cmdlet on Windows sees its caller's. So the caller's
  # $ErrorActionPreference is taken here (from $PSCmdlet.SessionState, the caller's), and the
  # errors this call writes through $Cmdlet.WriteError stop a script that set it to 'Stop'.
  if (-not $Bound.ContainsKey('ErrorAction')) {
    $ErrorActionPreference = $Cmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference')
  }
  $params = @{}
  foreach ($k in $Bound.Keys) { $params[$k] = $Bound[$k] }
  Write-SimTrace "> $Name"
  $started = [DateTime]::UtcNow
  $errors = New-Object System.Collections.Generic.List[object]
  $context = $script:Context
  $failure = $null
  $output = $null
  $addError = { param([string]$Message, [string]$Category = 'InvalidOperation', $Target = $null) $errors.Add(@($Message, $Category, $Target)) }.GetNewClosure()
  try {
    if ($script:Unlocked.Contains($Name)) {
      $output = @(& $body @{ S = $null; P = $params; Cmdlet = $Cmdlet; Ctx = $context; Name = $Name; Error = $addError })
    } else {
      $output = Use-SimState {
        param($S)
        $call = @{
          S      = $S
          P      = $params
          Cmdlet = $Cmdlet
          Ctx    = $context
          Name   = $Name
          Error  = $addError
        }
        , @(& $body $call)
      }
    }
  } catch [SimFailure] {
    $failure = $_.Exception
  }
  Sync-SimDrives
  Write-SimTrace ('< {0} {1:0} ms{2}' -f $Name, ([DateTime]::UtcNow - $started).TotalMilliseconds, $(if ($null -ne $failure) { ' (failed)' } else { '' }))
  if ($null -ne $failure) {
    $Cmdlet.ThrowTerminatingError((New-SimErrorRecord $failure.Message $failure.Category $failure.Target $failure.ErrorId $Name))
  }
  foreach ($e in $errors) { $Cmdlet.WriteError((New-SimErrorRecord $e[0] $e[1] $e[2] '' $Name)) }
  foreach ($o in $output) { $Cmdlet.WriteObject($o) }
}

# ---------------------------------------------------------------------------------------
# objects the cmdlets return
# ---------------------------------------------------------------------------------------

<# A PSCustomObject carrying the given type names first (so typed parameters accept it). #>
function New-SimObject([string[]]$TypeNames, [System.Collections.IDictionary]$Properties) {
  $o = [pscustomobject]$Properties
  for ($i = $TypeNames.Count - 1; $i -ge 0; $i--) { $o.PSObject.TypeNames.Insert(0, $TypeNames[$i]) }
  return $o
}

$script:CimPrefix = 'Microsoft.Management.Infrastructure.CimInstance#'
function New-SimCim([string]$Class, [System.Collections.IDictionary]$Properties) {
  New-SimObject @("$($script:CimPrefix)$Class", "$($script:CimPrefix)ROOT/Microsoft/Windows/$Class", 'Microsoft.Management.Infrastructure.CimInstance') $Properties
}

$script:HyperVPrefix = 'Microsoft.HyperV.PowerShell.'
function New-SimHyperV([string[]]$Types, [System.Collections.IDictionary]$Properties) {
  New-SimObject @($Types | ForEach-Object { "$($script:HyperVPrefix)$_" }) $Properties
}

function New-SimId { [guid]::NewGuid().ToString() }

# ---------------------------------------------------------------------------------------
# files: drives, paths
# ---------------------------------------------------------------------------------------

<# The folder that holds partition $Partition of disk $DiskId. #>
function Get-SimPartitionRoot([string]$DiskId, [int]$Partition) {
  $dir = Join-Path -Path $script:SimHome -ChildPath ('disks/{0}/{1}' -f $DiskId, $Partition)
  if (-not [System.IO.Directory]::Exists($dir)) { [void][System.IO.Directory]::CreateDirectory($dir) }
  return $dir
}

function Get-SimHostRoot {
  $dir = Join-Path -Path $script:SimHome -ChildPath 'host/C'
  if (-not [System.IO.Directory]::Exists($dir)) { [void][System.IO.Directory]::CreateDirectory($dir) }
  return $dir
}

<#
  The drive letters of the machine this runspace is on: @{ C = '/…/host/C'; E = '/…/disks/…' }.
  Behaviours say which letters exist: the host's in $S.host.drives, a guest's in its
  $vm.guest.drives (letter -> folder), written by whoever mounts (Mount-VHD + access paths,
  Mount-DiskImage, first boot of a guest).
#>
function Get-SimDriveMap([hashtable]$State) {
  $map = @{}
  if ($script:Context.kind -eq 'guest') {
    $vm = @($State.vms | Where-Object { $_.id -eq $script:Context.vmId }) | Select-Object -First 1
    if ($null -ne $vm -and $null -ne $vm.guest -and $null -ne $vm.guest.drives) {
      foreach ($k in $vm.guest.drives.Keys) { $map[$k] = $vm.guest.drives[$k] }
    }
  } else {
    $map['C'] = Get-SimHostRoot
    if ($null -ne $State.host -and $null -ne $State.host.drives) {
      foreach ($k in $State.host.drives.Keys) { $map[$k] = $State.host.drives[$k] }
    }
  }
  return $map
}

<# Makes this runspace's PSDrives match the machine's letters (after every simulated cmdlet). #>
function Sync-SimDrives {
  $state = $null
  try { $state = Read-SimState } catch { return }
  $map = Get-SimDriveMap $state
  foreach ($letter in @($script:Drives)) {
    $want = $map[$letter]
    $have = Get-PSDrive -Name $letter -PSProvider FileSystem -Scope Global -ErrorAction SilentlyContinue
    if ($null -eq $want -or ($null -ne $have -and $have.Root.TrimEnd('/') -ne ([string]$want).TrimEnd('/'))) {
      Remove-PSDrive -Name $letter -Scope Global -Force -ErrorAction SilentlyContinue
      [void]$script:Drives.Remove($letter)
    }
  }
  foreach ($letter in $map.Keys) {
    if ($script:Drives.Contains($letter)) { continue }
    $root = [string]$map[$letter]
    if (-not [System.IO.Directory]::Exists($root)) { [void][System.IO.Directory]::CreateDirectory($root) }
    New-PSDrive -Name $letter -PSProvider FileSystem -Root $root -Scope Global | Out-Null
    $script:Drives.Add($letter)
  }
}

<#
  A Windows path of the machine this runspace is on, as a path on this Linux machine:
  'C:\labctl\x' -> '<root of C>/labctl/x'. Paths that are already Linux paths stay as they are.
#>
function ConvertTo-SimLocalPath([string]$Path, [hashtable]$State) {
  if ($Path -match '^([A-Za-z]):[\\/]?(.*)$') {
    $letter = $Matches[1].ToUpperInvariant()
    $map = Get-SimDriveMap $State
    $root = $map[$letter]
    if ($null -eq $root) { Stop-Sim "Cannot find drive. A drive with the name '$letter' does not exist." 'ObjectNotFound' $Path 'DriveNotFound' }
    $rest = $Matches[2] -replace '\\', '/'
    if (-not $rest) { return [string]$root }
    return (Join-Path -Path $root -ChildPath $rest)
  }
  return $Path
}

<# Windows compares paths without case: the key labctl's scripts and the state agree on. #>
function Get-SimPathKey([string]$Path) { ($Path -replace '/', '\').TrimEnd('\').ToLowerInvariant() }

# ---------------------------------------------------------------------------------------
# native programs the scripts call (icacls.exe, bcdboot.exe, msiexec.exe, …): behaviours
# register them with Register-SimNative; they set $LASTEXITCODE like a process would
# ---------------------------------------------------------------------------------------

$script:Natives = @{}
function Register-SimNative([string]$Name, [scriptblock]$Body) { $script:Natives[$Name.ToLowerInvariant()] = $Body }

function Invoke-SimNative {
  param([string]$Name, [object[]]$Arguments)
  $body = $script:Natives[$Name.ToLowerInvariant()]
  if ($null -eq $body) { throw "the simulated host has no stand-in for $Name" }
  # no lock here: a program runs for a while (msiexec), so its body takes the state with
  # Use-SimState for each moment it looks or changes something, and sleeps in between
  $out = New-Object System.Collections.Generic.List[string]
  $err = New-Object System.Collections.Generic.List[string]
  $code = & $body @{ Args = @($Arguments | ForEach-Object { [string]$_ }); Ctx = $script:Context; Out = $out; Err = $err }
  Sync-SimDrives
  $global:LASTEXITCODE = [int]$code
  foreach ($line in $out) { $line }
  # what the program wrote to stderr: as a native program's stderr reaches PowerShell, one error record per line
  foreach ($line in $err) { Write-Error -Message $line -Category FromStdErr -ErrorAction Continue }
}

# ---------------------------------------------------------------------------------------
# start-up: behaviours, the native stand-ins as commands, the C: drive
# ---------------------------------------------------------------------------------------

foreach ($file in Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath '../behaviours') -Filter '*.ps1' | Sort-Object Name) {
  . $file.FullName
}

foreach ($native in @($script:Natives.Keys)) {
  $n = $native
  $fn = [scriptblock]::Create("Invoke-SimNative -Name '$n' -Arguments `$args")
  Set-Item -Path "function:global:$n" -Value $fn
  if ($n.EndsWith('.exe')) { Set-Item -Path ("function:global:{0}" -f $n.Substring(0, $n.Length - 4)) -Value $fn }
}

if (Test-Path -LiteralPath (Get-SimStatePath)) { Sync-SimDrives }

Export-ModuleMember -Function *-Sim*, Get-SimHome, Get-SimContext, Set-SimContext, Get-SimNow, Get-SimTiming, ConvertTo-SimLocalPath, Get-SimPathKey, Get-SimPartitionRoot, Get-SimHostRoot, Get-SimDriveMap, New-SimObject, New-SimCim, New-SimHyperV, New-SimId, New-SimErrorRecord
