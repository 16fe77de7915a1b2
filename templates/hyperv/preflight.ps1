# Reads what preflight needs to know about the host, changes nothing. labctl decides in
# TypeScript what is a problem (src/providers/hyperv/preflight.ts), so this only reports.
param(
  [Parameter(Mandatory = $true)][string]$VmPath,
  [Parameter(Mandatory = $true)][string]$LabRoot,
  [string[]]$Files = @(),
  [string[]]$MacAddresses = @()
)
$ErrorActionPreference = 'Stop'

# the usual idiom; Windows resolves [Security.Principal.X] to System.Security.Principal.X
# (the tests' simulated host maps these short names to its own stand-ins: the real types
# throw on Linux)
$principal = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
$elevated = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)

# Group Policy's execution policy (MachinePolicy, UserPolicy) overrides the -ExecutionPolicy
# Bypass labctl starts PowerShell with (about_Execution_Policies: the Group Policy scopes take
# precedence over the Process scope); labctl decides what that means
$policies = @{}
foreach ($p in @(Get-ExecutionPolicy -List)) { $policies[[string]$p.Scope] = [string]$p.ExecutionPolicy }

$os = Get-CimInstance -ClassName Win32_OperatingSystem
$module = @(Get-Module -ListAvailable -Name 'Hyper-V').Count -gt 0
$vmms = Get-Service -Name 'vmms' -ErrorAction SilentlyContinue
$vmmsStatus = $null
if ($null -ne $vmms) { $vmmsStatus = [string]$vmms.Status }

# the drive of vmPath ("C:\"), read from the text: the same on Windows and in the tests' simulated host
$root = ''
if ($VmPath -match '^([A-Za-z]):') { $root = '{0}:\' -f $Matches[1].ToUpperInvariant() }
$free = $null
if ($root -match '^[A-Za-z]:\\$') {
  $volume = Get-Volume -DriveLetter $root.Substring(0, 1) -ErrorAction SilentlyContinue
  if ($null -ne $volume) { $free = [long]$volume.SizeRemaining }
}

$fileFacts = @($Files | ForEach-Object { @{ path = $_; exists = (Test-Path -LiteralPath $_ -PathType Leaf) } })

$switches = @()
$vms = @()
$macsInUse = @()
if ($module -and $vmmsStatus -eq 'Running') {
  $switches = @(Get-VMSwitch | ForEach-Object { @{ name = $_.Name; type = [string]$_.SwitchType; notes = [string]$_.Notes } })
  $vms = @(Get-VM | ForEach-Object { @{ name = $_.Name; notes = [string]$_.Notes; state = [string]$_.State } })
  $wanted = @($MacAddresses | ForEach-Object { $_.ToUpperInvariant() })
  $macsInUse = @(Get-VMNetworkAdapter -All | Where-Object { $wanted -contains ([string]$_.MacAddress).ToUpperInvariant() } | ForEach-Object {
      @{ mac = ([string]$_.MacAddress).ToUpperInvariant(); vm = [string]$_.VMName }
    })
}

$nats = @(Get-NetNat -ErrorAction SilentlyContinue | ForEach-Object { @{ name = $_.Name; prefix = [string]$_.InternalIPInterfaceAddressPrefix } })
$addresses = @(Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue | ForEach-Object {
    @{ ip = $_.IPAddress; prefix = [int]$_.PrefixLength; alias = $_.InterfaceAlias; ifIndex = [int]$_.InterfaceIndex }
  })
$routes = @(Get-NetRoute -AddressFamily IPv4 -ErrorAction SilentlyContinue | Where-Object { $_.DestinationPrefix -ne '0.0.0.0/0' } | ForEach-Object {
    @{ prefix = $_.DestinationPrefix; alias = $_.InterfaceAlias; ifIndex = [int]$_.InterfaceIndex }
  })

@{
  windows           = [string]$os.Caption
  build             = [string]$os.BuildNumber
  elevated          = $elevated
  hyperVModule      = $module
  vmms              = $vmmsStatus
  freeMemoryBytes   = [long]$os.FreePhysicalMemory * 1024
  vmPathRoot        = $root
  vmPathFreeBytes   = $free
  labRootExists     = (Test-Path -LiteralPath $LabRoot)
  files             = $fileFacts
  switches          = $switches
  vms               = $vms
  macsInUse         = $macsInUse
  nats              = $nats
  addresses         = $addresses
  routes            = $routes
  executionPolicy   = @{
    machinePolicy = [string]$policies['MachinePolicy']
    userPolicy    = [string]$policies['UserPolicy']
    process       = [string]$policies['Process']
    effective     = [string](Get-ExecutionPolicy)
  }
}
