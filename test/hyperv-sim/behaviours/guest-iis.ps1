# IIS inside a Windows guest: sites and application pools (WebAdministration: Get-Website,
# New-Website, Start-/Stop-/Remove-Website, New-WebAppPool, Get-WebAppPoolState,
# Start-/Stop-/Restart-WebAppPool) and the IIS: drive's Test-Path / Get-ItemProperty /
# Set-ItemProperty on IIS:\Sites\<name> and IIS:\AppPools\<name>.
#
# State: $vm.guest.iis = { sites: [ { id, name, physicalPath, appPool, bindings: [ { protocol,
# bindingInformation: "ip:port:host" } ], serverAutoStart, state } ], appPools: [ { name,
# managedRuntimeVersion, autoStart, state } ], globalModules: [ names ] }.
#
# Rules:
# - A site is reached "through one or more unique bindings" (MicrosoftDocs/iis-docs
#   iis/get-started/planning-your-iis-architecture/understanding-sites-applications-and-virtual-directories-on-iis.md):
#   two started sites cannot hold the same binding. Starting the second fails with
#   "Cannot create a file when that file already exists. (Exception from HRESULT: 0x800700B7)",
#   the error Start-Website gives when the Default Web Site already has port 80
#   (OctopusDeploy/Issues issue 519; ansible/ansible issue 39332), and a new site whose binding
#   is taken is created stopped (microsoft/IIS.Administration issue 116, an IIS maintainer: a new
#   site starts "as long as the web site is valid, the binding does not conflict with another
#   binding, and server_auto_start is true").
# - serverAutoStart (default true): the site starts when W3SVC starts, i.e. at every boot
#   (iis-docs iis/configuration/system.applicationHost/sites/site/index.md; iis/wmi-provider/site-class.md).
#   Stop-Website stops the site now and does not change serverAutoStart, so a stopped Default
#   Web Site comes back after a reboot (dsccommunity/WebAdministrationDsc issue 325 "Stopped
#   Default web site starts after reboot", fixed by setting ServerAutoStart to false;
#   microsoft/IIS.Administration issue 296: only IIS Manager persists a stop in applicationHost.config).
#   At boot W3SVC starts the autostart sites in id order; one whose binding is taken stays stopped.
# - Restart-WebAppPool of a stopped pool fails ("The object identifier does not represent a valid
#   object. (Exception from HRESULT: 0x800710D8)", the error IIS gives for a recycle of a stopped
#   pool; unverified wording here) — site.ps1 starts a stopped pool instead.
# - The IIS: drive exists once the WebAdministration module is imported in the session; the module
#   itself comes with Web-Scripting-Tools (see guest-psdirect.ps1).

function Initialize-SimIis([hashtable]$g) {
  if ($null -eq $g.iis) { $g.iis = @{ sites = @(); appPools = @(); globalModules = @() } }
  if (@($g.iis.appPools | Where-Object { $_.name -eq 'DefaultAppPool' }).Count -eq 0 -and @($g.iis.sites).Count -eq 0) {
    $g.iis.appPools = @(@{ name = 'DefaultAppPool'; managedRuntimeVersion = 'v4.0'; autoStart = $true; state = 'Started' })
    $g.iis.sites = @(@{
        id = 1; name = 'Default Web Site'; physicalPath = '%SystemDrive%\inetpub\wwwroot'; appPool = 'DefaultAppPool'
        bindings = @(@{ protocol = 'http'; bindingInformation = '*:80:' }); serverAutoStart = $true; state = 'Started'
      })
  }
}

function Get-SimIis([hashtable]$S, [hashtable]$Ctx, [string]$What) {
  $vm = Get-SimGuestVm $S $Ctx $What
  $g = $vm.guest
  if (-not $g.features['Web-Server']) { Stop-Sim "$What`: IIS (Web-Server) is not installed on $($vm.name)" 'ResourceUnavailable' }
  Initialize-SimIis $g
  return $vm
}

function Get-SimSite([hashtable]$g, [string]$Name) { @($g.iis.sites | Where-Object { $_.name -eq $Name }) | Select-Object -First 1 }
function Get-SimPool([hashtable]$g, [string]$Name) { @($g.iis.appPools | Where-Object { $_.name -eq $Name }) | Select-Object -First 1 }

<# "ip:port:host" of two bindings of one protocol family collide when the port and host match and the addresses overlap ('*' is every address). #>
function Test-SimBindingConflict([hashtable]$a, [hashtable]$b) {
  $pa = ([string]$a.protocol) -replace '^https?$', 'http'
  $pb = ([string]$b.protocol) -replace '^https?$', 'http'
  if ($pa -ne $pb) { return $false }
  $x = ([string]$a.bindingInformation).Split(':')
  $y = ([string]$b.bindingInformation).Split(':')
  if ($x[1] -ne $y[1]) { return $false }
  if ($x[2] -ne $y[2]) { return $false }
  return ($x[0] -eq $y[0] -or $x[0] -in @('*', '') -or $y[0] -in @('*', ''))
}

<# The started site that holds one of this site's bindings, or $null. #>
function Get-SimSiteConflict([hashtable]$g, [hashtable]$Site) {
  foreach ($o in @($g.iis.sites)) {
    if ($o.name -eq $Site.name -or $o.state -ne 'Started') { continue }
    foreach ($b in @($Site.bindings)) { foreach ($ob in @($o.bindings)) { if (Test-SimBindingConflict $b $ob) { return $o } } }
  }
  return $null
}

function Test-SimW3svcRunning([hashtable]$g) {
  $w = $g.services['w3svc']
  return $null -ne $w -and $w.status -eq 'Running'
}

<# W3SVC started: the application pools and sites set to start automatically, sites in id order. #>
function Start-SimIisAutoStart([hashtable]$S, [hashtable]$vm) {
  $g = $vm.guest
  Initialize-SimIis $g
  foreach ($p in @($g.iis.appPools)) { if ($p.autoStart -ne $false) { $p.state = 'Started' } }
  foreach ($site in @($g.iis.sites | Sort-Object { [int]$_.id })) {
    if ($site.serverAutoStart -eq $false) { $site.state = 'Stopped'; continue }
    $site.state = $(if ($null -eq (Get-SimSiteConflict $g $site)) { 'Started' } else { 'Stopped' })
  }
}

function Stop-SimIisAll([hashtable]$g) {
  if ($null -eq $g.iis) { return }
  foreach ($site in @($g.iis.sites)) { $site.state = 'Stopped' }
  foreach ($p in @($g.iis.appPools)) { $p.state = 'Stopped' }
}

function New-SimSiteObject([hashtable]$site) {
  $bindings = foreach ($b in @($site.bindings)) {
    $o = [pscustomobject]@{ protocol = $b.protocol; bindingInformation = $b.bindingInformation; sslFlags = 0 }
    $o | Add-Member -MemberType ScriptMethod -Name ToString -Value { '{0} {1}' -f $this.protocol, $this.bindingInformation } -Force
    $o
  }
  $physical = [string]$site.physicalPath
  New-SimObject @('Microsoft.IIs.PowerShell.Framework.ConfigurationElement#site', 'Microsoft.IIs.PowerShell.Framework.ConfigurationElement') ([ordered]@{
      name            = $site.name
      id              = [int64]$site.id
      state           = $site.state
      physicalPath    = $physical
      bindings        = [pscustomobject]@{ Collection = @($bindings) }
      applicationPool = $site.appPool
      serverAutoStart = [bool]($site.serverAutoStart -ne $false)
      enabledProtocols = 'http'
    })
}

Register-SimCmdlet 'Get-Website' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Get-Website'
  if (-not $vm.guest.features['Web-Server']) { return }
  Initialize-SimIis $vm.guest
  foreach ($site in @($vm.guest.iis.sites | Sort-Object { [int]$_.id })) {
    if ($c.P.Name -and $site.name -notlike [string]$c.P.Name) { continue }
    New-SimSiteObject $site
  }
}

Register-SimCmdlet 'New-Website' {
  param($c)
  $vm = Get-SimIis $c.S $c.Ctx 'New-Website'
  $g = $vm.guest
  $name = [string]$c.P.Name
  $existing = Get-SimSite $g $name
  if ($null -ne $existing) {
    if (-not $c.P.Force) { Stop-Sim 'Cannot create a file when that file already exists. (Exception from HRESULT: 0x800700B7)' 'ResourceExists' $name }
    $g.iis.sites = @($g.iis.sites | Where-Object { $_.name -ne $name })
  }
  $id = $(if ($c.P.Id) { [int]$c.P.Id } else { 1 + [int](@($g.iis.sites | ForEach-Object { [int]$_.id }) + @(0) | Measure-Object -Maximum).Maximum })
  $ip = $(if ($c.P.IPAddress) { [string]$c.P.IPAddress } else { '*' })
  $port = $(if ($c.P.Port) { [int]$c.P.Port } else { 80 })
  $hostHeader = [string]$c.P.HostHeader
  $pool = $(if ($c.P.ApplicationPool) { [string]$c.P.ApplicationPool } else { 'DefaultAppPool' })
  $site = @{
    id = $id; name = $name; physicalPath = [string]$c.P.PhysicalPath; appPool = $pool
    bindings = @(@{ protocol = $(if ($c.P.Ssl) { 'https' } else { 'http' }); bindingInformation = "$($ip):$($port):$hostHeader" })
    serverAutoStart = $true; state = 'Stopped'
  }
  $g.iis.sites = @($g.iis.sites) + @($site)
  if ((Test-SimW3svcRunning $g) -and $null -eq (Get-SimSiteConflict $g $site)) { $site.state = 'Started' }
  New-SimSiteObject $site
}

function Get-SimSiteByName($c, [hashtable]$g) {
  $name = [string]$c.P.Name
  $site = Get-SimSite $g $name
  if ($null -eq $site) { Stop-Sim "Cannot find path 'IIS:\Sites\$name' because it does not exist." 'ObjectNotFound' $name 'PathNotFound' }
  return $site
}

Register-SimCmdlet 'Start-Website' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Start-Website').guest
  $site = Get-SimSiteByName $c $g
  if (-not (Test-SimW3svcRunning $g)) { Stop-Sim "the simulated IIS: W3SVC is not running, so site '$($site.name)' cannot start (the wording on Windows is not simulated)" 'InvalidOperation' $site.name }
  if ($site.state -ne 'Started') {
    if ($null -ne (Get-SimSiteConflict $g $site)) {
      & $c.Error 'Cannot create a file when that file already exists. (Exception from HRESULT: 0x800700B7)' 'InvalidOperation' $site.name
      return
    }
    $site.state = 'Started'
  }
  if ($c.P.Passthru) { New-SimSiteObject $site }
}

Register-SimCmdlet 'Stop-Website' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Stop-Website').guest
  $site = Get-SimSiteByName $c $g
  $site.state = 'Stopped'
  if ($c.P.Passthru) { New-SimSiteObject $site }
}

Register-SimCmdlet 'Remove-Website' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Remove-Website').guest
  $site = Get-SimSiteByName $c $g
  $g.iis.sites = @($g.iis.sites | Where-Object { $_.name -ne $site.name })
}

Register-SimCmdlet 'New-WebAppPool' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'New-WebAppPool').guest
  $name = [string]$c.P.Name
  if ($null -ne (Get-SimPool $g $name)) {
    if (-not $c.P.Force) { Stop-Sim 'Cannot create a file when that file already exists. (Exception from HRESULT: 0x800700B7)' 'ResourceExists' $name }
    $g.iis.appPools = @($g.iis.appPools | Where-Object { $_.name -ne $name })
  }
  $pool = @{ name = $name; managedRuntimeVersion = 'v4.0'; autoStart = $true; state = $(if (Test-SimW3svcRunning $g) { 'Started' } else { 'Stopped' }) }
  $g.iis.appPools = @($g.iis.appPools) + @($pool)
  New-SimObject @('Microsoft.IIs.PowerShell.Framework.ConfigurationElement#add') ([ordered]@{ name = $name; state = $pool.state; managedRuntimeVersion = 'v4.0'; autoStart = $true })
}

function Get-SimPoolByName($c, [hashtable]$g) {
  $name = [string]$c.P.Name
  $pool = Get-SimPool $g $name
  if ($null -eq $pool) { Stop-Sim "Cannot find path 'IIS:\AppPools\$name' because it does not exist." 'ObjectNotFound' $name 'PathNotFound' }
  return $pool
}

Register-SimCmdlet 'Get-WebAppPoolState' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Get-WebAppPoolState').guest
  $pool = Get-SimPoolByName $c $g
  New-SimObject @('Microsoft.IIs.PowerShell.Framework.CodeProperty') ([ordered]@{ Value = $pool.state })
}

Register-SimCmdlet 'Start-WebAppPool' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Start-WebAppPool').guest
  $pool = Get-SimPoolByName $c $g
  $pool.state = 'Started'
}

Register-SimCmdlet 'Stop-WebAppPool' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Stop-WebAppPool').guest
  $pool = Get-SimPoolByName $c $g
  $pool.state = 'Stopped'
}

Register-SimCmdlet 'Restart-WebAppPool' {
  param($c)
  $g = (Get-SimIis $c.S $c.Ctx 'Restart-WebAppPool').guest
  $pool = Get-SimPoolByName $c $g
  if ($pool.state -ne 'Started') { Stop-Sim 'The object identifier does not represent a valid object. (Exception from HRESULT: 0x800710D8)' 'InvalidOperation' $pool.name }
  $pool.recycled = [int]$pool.recycled + 1
}

# ---------------------------------------------------------------------------------------
# the IIS: drive (Test-Path / Get-ItemProperty / Set-ItemProperty, dispatched from
# guest-windows.ps1's registry intercepts)
# ---------------------------------------------------------------------------------------

$script:SimIisSiteProperties = @{ physicalPath = 'physicalPath'; serverAutoStart = 'serverAutoStart'; applicationPool = 'appPool'; name = 'name'; id = 'id'; state = 'state' }
$script:SimIisPoolProperties = @{ managedRuntimeVersion = 'managedRuntimeVersion'; autoStart = 'autoStart'; name = 'name'; state = 'state'; managedPipelineMode = 'managedPipelineMode'; startMode = 'startMode' }

<# 'IIS:\Sites\x' -> @{ kind = 'Sites'|'AppPools'|'root'|...; name } #>
function ConvertFrom-SimIisPath([string]$Path) {
  $rest = ($Path -replace '^(?i)IIS:', '' -replace '/', '\').Trim('\')
  $parts = @($rest -split '\\' | Where-Object { $_ })
  if ($parts.Count -eq 0) { return @{ kind = 'root'; name = '' } }
  return @{ kind = $parts[0]; name = ($parts[1..($parts.Count - 1)] -join '\') }
}

<# The IIS: drive is there when WebAdministration is imported in this session (its provider adds it). #>
function Test-SimIisDrive { $null -ne (Get-Module -Name 'WebAdministration') }

function Resolve-SimIisItem($c, [string]$Path) {
  if (-not (Test-SimIisDrive)) { return @{ error = "Cannot find drive. A drive with the name 'IIS' does not exist." } }
  $vm = Get-SimGuestVm $c.S $c.Ctx 'the IIS: drive'
  $g = $vm.guest
  if (-not $g.features['Web-Server']) { return @{ error = "Cannot find path '$Path' because it does not exist." } }
  Initialize-SimIis $g
  $p = ConvertFrom-SimIisPath $Path
  if ($p.kind -eq 'root') { return @{ item = @{}; kind = 'root' } }
  if ($p.kind -eq 'Sites') {
    if (-not $p.name) { return @{ item = @{}; kind = 'folder' } }
    $s = Get-SimSite $g $p.name
    if ($null -ne $s) { return @{ item = $s; kind = 'site' } }
  } elseif ($p.kind -eq 'AppPools') {
    if (-not $p.name) { return @{ item = @{}; kind = 'folder' } }
    $a = Get-SimPool $g $p.name
    if ($null -ne $a) { return @{ item = $a; kind = 'pool' } }
  }
  return @{ error = "Cannot find path '$Path' because it does not exist." }
}

function Test-SimIisItem($c, [string]$Path) {
  $r = Resolve-SimIisItem $c $Path
  return ($null -eq $r.error)
}

function Get-SimIisProperty($c, [string]$Path) {
  $r = Resolve-SimIisItem $c $Path
  if ($r.error) { & $c.Error $r.error 'ObjectNotFound' $Path; return }
  $map = $(if ($r.kind -eq 'site') { $script:SimIisSiteProperties } else { $script:SimIisPoolProperties })
  if (-not $c.P.ContainsKey('Name')) {
    $o = [ordered]@{}
    foreach ($k in $map.Keys) { $o[$k] = $r.item[$map[$k]] }
    return [pscustomobject]$o
  }
  foreach ($n in @($c.P.Name)) {
    $key = @($map.Keys | Where-Object { $_ -eq $n }) | Select-Object -First 1
    if (-not $key) { & $c.Error "Property $n is not found on $Path." 'InvalidArgument' $n; continue }
    $r.item[$map[$key]]
  }
}

function Set-SimIisProperty($c, [string]$Path) {
  $r = Resolve-SimIisItem $c $Path
  if ($r.error) { & $c.Error $r.error 'ObjectNotFound' $Path; return }
  $map = $(if ($r.kind -eq 'site') { $script:SimIisSiteProperties } else { $script:SimIisPoolProperties })
  $n = [string]$c.P.Name
  $key = @($map.Keys | Where-Object { $_ -eq $n }) | Select-Object -First 1
  if (-not $key -or $key -in @('name', 'id', 'state')) { Stop-Sim "the simulated IIS: drive does not set $n on $Path" 'NotImplemented' $n }
  $v = $c.P.Value
  if ($key -in @('serverAutoStart', 'autoStart')) { $v = $(if ($v -is [string]) { $v -match '^(?i)true$' } else { [bool]$v }) }
  $r.item[$map[$key]] = $v
}
