# Inside a simulated Windows Server guest: its state under $vm.guest (initialised the first time
# a guest is used), its roles and features (ServerManager), services, registry, and a reboot.
# The cmdlets act on the machine the calling runspace is on: a guest (a PowerShell Direct
# runspace, Set-SimContext 'guest' <vmId>) or, for services and the registry, the host.
#
# State (README.md, "vms[].guest"):
#   features  { "<Name>": true }            installed roles, role services and features
#   services  { "<name lower>": { name, displayName, status, startType, dependsOn, started } }
#   registry  { "<hklm:\key lower>": { "<value>": { value, kind } } }
#   firewall  [ rules ]  msi { installed, running }  iis { sites, appPools, globalModules }  acl { }
#   boot      { since, count, rebootAt }     which boot of the VM the services belong to

# ---------------------------------------------------------------------------------------
# the guest this runspace is in
# ---------------------------------------------------------------------------------------

<# A time of the state (a DateTime after ConvertFrom-Json, or a string) as one comparable UTC form. #>
function ConvertTo-SimTimeKey($Value) {
  if ($null -eq $Value -or $Value -eq '') { return '' }
  if ($Value -is [datetime]) { return $Value.ToUniversalTime().ToString('o') }
  return [string]$Value
}

function ConvertTo-SimTime($Value) {
  if ($Value -is [datetime]) { return $Value.ToUniversalTime() }
  return [DateTime]::Parse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture, [System.Globalization.DateTimeStyles]::RoundtripKind).ToUniversalTime()
}

function Get-SimVmById([hashtable]$S, [string]$VmId) {
  @($S.vms | Where-Object { $_.id -eq $VmId }) | Select-Object -First 1
}

<# The VM of a guest context, with its Windows state initialised; fails outside a Windows guest. #>
function Get-SimGuestVm([hashtable]$S, [hashtable]$Ctx, [string]$What) {
  if ($Ctx.kind -ne 'guest') {
    Stop-Sim "the simulated host does not implement $What on the Hyper-V host itself, only inside a Windows guest (PowerShell Direct)" 'NotImplemented'
  }
  $vm = Get-SimVmById $S $Ctx.vmId
  if ($null -eq $vm) { Stop-Sim "the virtual machine of this PowerShell Direct session ($($Ctx.vmId)) no longer exists" 'ResourceUnavailable' }
  Initialize-SimGuest $S $vm
  return $vm
}

<#
  A fresh Windows Server 2022 (Desktop Experience) as setup leaves it: the features Server
  Manager lists as installed on a new server, the services labctl's scripts touch, no IIS.
  Also the folders of its C: drive that the scripts and installers rely on.
#>
function Initialize-SimGuest([hashtable]$S, [hashtable]$vm) {
  $g = $vm.guest
  if ($null -eq $g) { $vm.guest = @{}; $g = $vm.guest }
  if ($g.initialized) { return }
  $g.features = @{}
  foreach ($f in $script:SimDefaultFeatures) { $g.features[$f] = $true }
  $g.services = @{}
  foreach ($svc in $script:SimDefaultServices) { Add-SimService $g $svc.name $svc.display $svc.startType $svc.status @() }
  if ($null -eq $g.registry) { $g.registry = @{} }
  $g.registry['hklm:\software\microsoft\windows nt\currentversion'] = @{
    ProductName    = @{ value = 'Windows Server 2022 Standard'; kind = 'String' }
    CurrentBuild   = @{ value = '20348'; kind = 'String' }
    InstallationType = @{ value = 'Server'; kind = 'String' }
  }
  if ($null -eq $g.firewall) { $g.firewall = @() }
  $g.msi = @{ installed = @{}; running = $null }
  $g.iis = @{ sites = @(); appPools = @(); globalModules = @() }
  $g.acl = @{}
  $g.boot = @{ since = (ConvertTo-SimTimeKey $vm.since); count = 1; rebootAt = $null }
  $root = $g.drives.C
  if ($root) {
    foreach ($dir in @('Windows/System32', 'Windows/Temp', 'Program Files', 'Program Files (x86)', 'ProgramData', 'Users/Administrator/Documents', 'Users/Administrator/AppData/Local/Temp', 'Users/Public')) {
      [void][System.IO.Directory]::CreateDirectory((Join-Path -Path $root -ChildPath $dir))
    }
  }
  $g.initialized = $true
}

# Server Manager's "installed" list on a new Windows Server 2022 with Desktop Experience
# (Get-WindowsFeature | Where-Object Installed): .NET 4.8 core, PowerShell 5.1, Defender, WoW64.
$script:SimDefaultFeatures = @(
  'NET-Framework-45-Features', 'NET-Framework-45-Core', 'NET-WCF-Services45', 'NET-WCF-TCP-PortSharing45',
  'PowerShellRoot', 'PowerShell', 'PowerShell-ISE', 'WoW64-Support', 'Windows-Defender', 'XPS-Viewer',
  'FileAndStorage-Services', 'Storage-Services', 'System-DataArchiver'
)
$script:SimDefaultServices = @(
  @{ name = 'WinRM'; display = 'Windows Remote Management (WS-Management)'; startType = 'Automatic'; status = 'Running' }
  @{ name = 'vmicvmsession'; display = 'Hyper-V PowerShell Direct Service'; startType = 'Manual'; status = 'Running' }
  @{ name = 'MpsSvc'; display = 'Windows Defender Firewall'; startType = 'Automatic'; status = 'Running' }
  @{ name = 'msiserver'; display = 'Windows Installer'; startType = 'Manual'; status = 'Stopped' }
  @{ name = 'W32Time'; display = 'Windows Time'; startType = 'Manual'; status = 'Stopped' }
)

# ---------------------------------------------------------------------------------------
# roles and features (ServerManager)
# Sources: MicrosoftDocs/iis-docs iis/install/installing-iis-85/installing-iis-85-on-windows-server-2012-r2.md
# ("Modules in IIS 8.5": the PowerShell names, which role services come with Web Server (IIS)
# by default (*), and "Feature Dependencies": Management Service needs ASP.NET 4.5, .NET
# Framework 4.5 and Management Tools; Management Tools needs .NET Framework 4.5);
# MicrosoftDocs/windows-powershell-docs docset/winserver2022-ps/ServerManager/Install-WindowsFeature.md
# (management tools only with -IncludeManagementTools; -Name takes no wildcards; Get-WindowsFeature
# does, example 5). Unlike DISM, Server Manager adds the parents and dependencies itself.
# ---------------------------------------------------------------------------------------

$script:SimFeatures = [ordered]@{}
function Add-SimFeature([string]$Name, [string]$Display, [string]$Parent, [string]$Type = 'Role Service', [string[]]$DependsOn = @(), [string[]]$Defaults = @(), [string[]]$Tools = @()) {
  $script:SimFeatures[$Name] = @{ name = $Name; display = $Display; parent = $Parent; type = $Type; dependsOn = $DependsOn; defaults = $Defaults; tools = $Tools }
}
Add-SimFeature 'Web-Server' 'Web Server (IIS)' $null 'Role' -Defaults @('Web-WebServer', 'Web-Common-Http', 'Web-Default-Doc', 'Web-Dir-Browsing', 'Web-Http-Errors', 'Web-Static-Content', 'Web-Health', 'Web-Http-Logging', 'Web-Performance', 'Web-Stat-Compression', 'Web-Security', 'Web-Filtering') -Tools @('Web-Mgmt-Tools', 'Web-Mgmt-Console')
Add-SimFeature 'Web-WebServer' 'Web Server' 'Web-Server'
Add-SimFeature 'Web-Common-Http' 'Common HTTP Features' 'Web-WebServer'
Add-SimFeature 'Web-Default-Doc' 'Default Document' 'Web-Common-Http'
Add-SimFeature 'Web-Dir-Browsing' 'Directory Browsing' 'Web-Common-Http'
Add-SimFeature 'Web-Http-Errors' 'HTTP Errors' 'Web-Common-Http'
Add-SimFeature 'Web-Static-Content' 'Static Content' 'Web-Common-Http'
Add-SimFeature 'Web-Http-Redirect' 'HTTP Redirection' 'Web-Common-Http'
Add-SimFeature 'Web-Health' 'Health and Diagnostics' 'Web-WebServer'
Add-SimFeature 'Web-Http-Logging' 'HTTP Logging' 'Web-Health'
Add-SimFeature 'Web-Performance' 'Performance' 'Web-WebServer'
Add-SimFeature 'Web-Stat-Compression' 'Static Content Compression' 'Web-Performance'
Add-SimFeature 'Web-Security' 'Security' 'Web-WebServer'
Add-SimFeature 'Web-Filtering' 'Request Filtering' 'Web-Security'
Add-SimFeature 'Web-App-Dev' 'Application Development' 'Web-WebServer'
Add-SimFeature 'Web-WebSockets' 'WebSocket Protocol' 'Web-App-Dev'
Add-SimFeature 'Web-ISAPI-Ext' 'ISAPI Extensions' 'Web-App-Dev'
Add-SimFeature 'Web-ISAPI-Filter' 'ISAPI Filters' 'Web-App-Dev'
Add-SimFeature 'Web-Net-Ext45' '.NET Extensibility 4.8' 'Web-App-Dev' -DependsOn @('NET-Framework-45-ASPNET', 'NET-Framework-45-Core', 'Web-Filtering')
Add-SimFeature 'Web-Asp-Net45' 'ASP.NET 4.8' 'Web-App-Dev' -DependsOn @('NET-Framework-45-ASPNET', 'NET-Framework-45-Core', 'Web-ISAPI-Ext', 'Web-ISAPI-Filter', 'Web-Net-Ext45', 'Web-Filtering')
Add-SimFeature 'Web-Mgmt-Tools' 'Management Tools' 'Web-Server' -DependsOn @('NET-Framework-45-Core')
Add-SimFeature 'Web-Mgmt-Console' 'IIS Management Console' 'Web-Mgmt-Tools' -DependsOn @('NET-Framework-45-Core', 'Web-Mgmt-Tools')
Add-SimFeature 'Web-Scripting-Tools' 'IIS Management Scripts and Tools' 'Web-Mgmt-Tools'
Add-SimFeature 'Web-Mgmt-Service' 'Management Service' 'Web-Mgmt-Tools' -DependsOn @('NET-Framework-45-ASPNET', 'NET-Framework-45-Core', 'Web-Mgmt-Tools')
Add-SimFeature 'NET-Framework-45-Features' '.NET Framework 4.8 Features' $null 'Feature'
Add-SimFeature 'NET-Framework-45-Core' '.NET Framework 4.8' 'NET-Framework-45-Features' 'Feature'
Add-SimFeature 'NET-Framework-45-ASPNET' 'ASP.NET 4.8' 'NET-Framework-45-Features' 'Feature' -DependsOn @('NET-Framework-45-Core')
Add-SimFeature 'NET-WCF-Services45' 'WCF Services' 'NET-Framework-45-Features' 'Feature'
Add-SimFeature 'NET-WCF-TCP-PortSharing45' 'TCP Port Sharing' 'NET-WCF-Services45' 'Feature'
Add-SimFeature 'PowerShellRoot' 'Windows PowerShell' $null 'Feature'
Add-SimFeature 'PowerShell' 'Windows PowerShell 5.1' 'PowerShellRoot' 'Feature'
Add-SimFeature 'PowerShell-ISE' 'Windows PowerShell ISE' 'PowerShellRoot' 'Feature'
Add-SimFeature 'WoW64-Support' 'WoW64 Support' $null 'Feature'
Add-SimFeature 'Windows-Defender' 'Microsoft Defender Antivirus' $null 'Feature'
Add-SimFeature 'XPS-Viewer' 'XPS Viewer' $null 'Feature'
Add-SimFeature 'FileAndStorage-Services' 'File and Storage Services' $null 'Role'
Add-SimFeature 'Storage-Services' 'Storage Services' 'FileAndStorage-Services'
Add-SimFeature 'System-DataArchiver' 'System Data Archiver' $null 'Feature'
Add-SimFeature 'Telnet-Client' 'Telnet Client' $null 'Feature'

function Get-SimFeatureDepth([string]$Name) {
  $d = 1; $p = $script:SimFeatures[$Name].parent
  while ($p) { $d++; $p = $script:SimFeatures[$p].parent }
  return $d
}

function New-SimFeatureObject([hashtable]$g, [hashtable]$f) {
  $installed = [bool]$g.features[$f.name]
  New-SimObject @('Microsoft.Windows.ServerManager.Commands.Feature') ([ordered]@{
      Name         = $f.name
      DisplayName  = $f.display
      Installed    = $installed
      InstallState = $(if ($installed) { 'Installed' } else { 'Available' })
      FeatureType  = $f.type
      Parent       = $f.parent
      Depth        = (Get-SimFeatureDepth $f.name)
      DependsOn    = @($f.dependsOn)
      SubFeatures  = @($script:SimFeatures.Values | Where-Object { $_.parent -eq $f.name } | ForEach-Object { $_.name })
    })
}

Register-SimCmdlet 'Get-WindowsFeature' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Get-WindowsFeature'
  $patterns = @($c.P.Name | Where-Object { $_ })
  foreach ($f in $script:SimFeatures.Values) {
    if ($patterns.Count -gt 0 -and -not @($patterns | Where-Object { $f.name -like $_ }).Count) { continue }
    New-SimFeatureObject $vm.guest $f
  }
}

Register-SimCmdlet 'Install-WindowsFeature' {
  param($c)
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Install-WindowsFeature'
  $g = $vm.guest
  if ($c.P.ContainsKey('Vhd') -or $c.P.ContainsKey('ConfigurationFilePath') -or $c.P.ContainsKey('ComputerName')) {
    Stop-Sim 'the simulated guest installs features on the running server only (no -Vhd, -ConfigurationFilePath or -ComputerName)' 'NotImplemented'
  }
  $names = @($c.P.Name | ForEach-Object { if ($_ -is [string]) { $_ } else { [string]$_.Name } })
  $unknown = @($names | Where-Object { -not $script:SimFeatures.Contains($_) })
  $result = { param($ok, $code, $items) New-SimObject @('Microsoft.Windows.ServerManager.Commands.FeatureOperationResult') ([ordered]@{ Success = $ok; RestartNeeded = 'No'; FeatureResult = @($items); ExitCode = $code }) }
  if ($unknown.Count -gt 0) {
    # a name Server Manager does not know: a non-terminating error and a failed result
    # (the error as Windows prints it: MicrosoftDocs/windowsserverdocs issue 2316, MicrosoftDocs/MIMDocs issue 292)
    foreach ($u in $unknown) { & $c.Error "ArgumentNotValid: The role, role service, or feature name is not valid: '$u'. The name was not found." 'InvalidArgument' $u }
    return (& $result $false 'InvalidArgs' @())
  }
  # everything the request needs: the features, their parents, their dependencies, the
  # default role services of a role, and with -IncludeManagementTools their tools
  $want = New-Object System.Collections.Generic.List[string]
  $add = $null
  $add = {
    param([string]$n)
    if ($want.Contains($n)) { return }
    $f = $script:SimFeatures[$n]
    if ($f.parent) { & $add $f.parent }
    foreach ($d in $f.dependsOn) { & $add $d }
    $want.Add($n)
    foreach ($d in $f.defaults) { & $add $d }
  }
  foreach ($n in $names) {
    & $add $n
    if ($c.P.IncludeManagementTools) { foreach ($t in $script:SimFeatures[$n].tools) { & $add $t } }
    if ($c.P.IncludeAllSubFeature) {
      foreach ($sub in @($script:SimFeatures.Values | Where-Object { $_.name -ne $n -and (Test-SimFeatureUnder $_.name $n) })) { & $add $sub.name }
    }
  }
  $new = @($want | Where-Object { -not $g.features[$_] })
  if ($new.Count -eq 0) { return (& $result $true 'NoChangeNeeded' @()) }
  $items = foreach ($n in $new) {
    $g.features[$n] = $true
    Install-SimFeatureEffects $c.S $vm $n
    New-SimObject @('Microsoft.Windows.ServerManager.Commands.FeatureResult') ([ordered]@{ Name = $n; DisplayName = $script:SimFeatures[$n].display; Success = $true; RestartNeeded = $false; Message = ''; SkipReason = 'NotSkipped' })
  }
  & $result $true 'Success' $items
}

function Test-SimFeatureUnder([string]$Name, [string]$Ancestor) {
  $p = $script:SimFeatures[$Name].parent
  while ($p) { if ($p -eq $Ancestor) { return $true }; $p = $script:SimFeatures[$p].parent }
  return $false
}

<#
  What installing a role service creates besides the feature itself.
  - Web-Server: W3SVC (automatic, running) and WAS, the "Default Web Site" on *:80 with
    %SystemDrive%\inetpub\wwwroot and DefaultAppPool (MicrosoftDocs/iis-docs
    iis/install/installing-iis-7/understanding-setup-in-iis.md: "W3SVC installed as a service",
    the default site and pool in applicationHost.config).
  - Web-Mgmt-Service: Microsoft.Web.Management.dll in inetsrv (see below); WMSVC, "installs with Startup Type set to Manual" (iis-docs
    iis/manage/remote-administration/remote-administration-for-iis-manager.md), stopped, and its
    key HKLM\SOFTWARE\Microsoft\WebManagement\Server with EnableRemoteManagement = 0 (the same
    page: remote connections are off until that dword is 1).
#>
function Install-SimFeatureEffects([hashtable]$S, [hashtable]$vm, [string]$Name) {
  $g = $vm.guest
  $root = $g.drives.C
  switch ($Name) {
    'Web-Server' {
      Add-SimService $g 'WAS' 'Windows Process Activation Service' 'Manual' 'Running' @()
      Add-SimService $g 'W3SVC' 'World Wide Web Publishing Service' 'Automatic' 'Running' @('WAS')
      if ($root) {
        [void][System.IO.Directory]::CreateDirectory((Join-Path $root 'inetpub/wwwroot'))
        [System.IO.File]::WriteAllText((Join-Path $root 'inetpub/wwwroot/iisstart.htm'), "<!DOCTYPE html><title>IIS Windows Server</title>`n")
        [void][System.IO.Directory]::CreateDirectory((Join-Path $root 'Windows/System32/inetsrv/config'))
      }
      Initialize-SimIis $g
    }
    'Web-Scripting-Tools' {
      # its WebAdministration module is there at once (guest-psdirect.ps1, the guest's modules)
      [void](Update-SimGuestModules $vm)
    }
    'Web-Mgmt-Service' {
      Add-SimService $g 'WMSVC' 'Web Management Service' 'Manual' 'Stopped' @()
      # IIS's management API (Microsoft.Web.Management.Server: ManagementAuthorization, the IIS
      # Manager Permissions) is the Management Service's own assembly in inetsrv; Web Deploy's
      # SetupSiteForPublish.ps1 loads it from there (LoadFrom "$env:windir\system32\inetsrv\
      # Microsoft.Web.Management.dll"). A stand-in file here; Add-Type -Path of it loads the
      # simulator's stand-in type (guest-accounts.ps1).
      if ($root) {
        [void][System.IO.Directory]::CreateDirectory((Join-Path $root 'Windows/System32/inetsrv'))
        [System.IO.File]::WriteAllText((Join-Path $root 'Windows/System32/inetsrv/Microsoft.Web.Management.dll'), "LABCTL-SIM assembly Microsoft.Web.Management`n")
      }
      $key = 'hklm:\software\microsoft\webmanagement\server'
      if ($null -eq $g.registry[$key]) { $g.registry[$key] = @{} }
      if ($null -eq $g.registry[$key]['EnableRemoteManagement']) { $g.registry[$key]['EnableRemoteManagement'] = @{ value = 0; kind = 'DWord' } }
    }
  }
}

# ---------------------------------------------------------------------------------------
# services (Get/Set/Start/Stop/Restart-Service), on the host ($S.host.services) or a guest
# Messages: PowerShell's own (PowerShell/PowerShell
# src/Microsoft.PowerShell.Commands.Management/resources/ServiceResources.resx:
# NoServiceFoundForGivenName, ServiceHasDependentServices).
# ---------------------------------------------------------------------------------------

function Add-SimService([hashtable]$g, [string]$Name, [string]$Display, [string]$StartType, [string]$Status, [string[]]$DependsOn) {
  if ($null -eq $g.services) { $g.services = @{} }
  $key = $Name.ToLowerInvariant()
  if ($null -ne $g.services[$key]) { return }
  $g.services[$key] = @{ name = $Name; displayName = $Display; startType = $StartType; status = $Status; dependsOn = @($DependsOn) }
}

<# The services table of the machine this call runs on (host or guest). #>
function Get-SimServiceTable([hashtable]$S, [hashtable]$Ctx) {
  if ($Ctx.kind -eq 'guest') { return (Get-SimGuestVm $S $Ctx 'services').guest.services }
  if ($null -eq $S.host.services) { $S.host.services = @{} }
  return $S.host.services
}

function Get-SimServiceEntry([hashtable]$Table, [string]$Name) {
  foreach ($k in @($Table.Keys)) {
    $e = $Table[$k]
    $n = $(if ($e.name) { [string]$e.name } else { [string]$k })
    if ($n -eq $Name -or $k -eq $Name) { if (-not $e.name) { $e.name = $k }; return $e }
  }
  return $null
}

function New-SimServiceObject([hashtable]$Table, [hashtable]$e) {
  $dependents = @($Table.Values | Where-Object { @($_.dependsOn) -contains $e.name } | ForEach-Object { $_.name })
  New-SimObject @('System.ServiceProcess.ServiceController') ([ordered]@{
      Name               = $e.name
      ServiceName        = $e.name
      DisplayName        = $e.displayName
      Status             = $e.status
      StartType          = $e.startType
      CanStop            = ($e.status -eq 'Running')
      ServicesDependedOn = @($e.dependsOn)
      DependentServices  = $dependents
    })
}

<# The services a call names (-Name with wildcards, -DisplayName, -InputObject); errors for names that match nothing. #>
function Resolve-SimServices($c, [hashtable]$Table) {
  $found = New-Object System.Collections.Generic.List[object]
  $names = @()
  if ($c.P.ContainsKey('InputObject')) { $names = @($c.P.InputObject | ForEach-Object { [string]$_.Name }) }
  elseif ($c.P.ContainsKey('Name')) { $names = @($c.P.Name) }
  if ($c.P.ContainsKey('DisplayName') -and -not $c.P.ContainsKey('Name')) {
    foreach ($d in @($c.P.DisplayName)) {
      $m = @($Table.Values | Where-Object { $_.displayName -like $d })
      if ($m.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($d)) {
        & $c.Error "Cannot find any service with display name '$d'." 'ObjectNotFound' $d
      }
      foreach ($e in $m) { if (-not $found.Contains($e)) { $found.Add($e) } }
    }
    return , $found
  }
  if ($names.Count -eq 0) { foreach ($k in @($Table.Keys)) { [void](Get-SimServiceEntry $Table $k); $found.Add($Table[$k]) }; return , $found }
  foreach ($n in $names) {
    $wild = [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($n)
    $m = @()
    foreach ($k in @($Table.Keys)) { $e = Get-SimServiceEntry $Table $k; if ($e.name -like $n) { $m += $e } }
    if ($m.Count -eq 0 -and -not $wild) { & $c.Error "Cannot find any service with service name '$n'." 'ObjectNotFound' $n }
    foreach ($e in $m) { if (-not $found.Contains($e)) { $found.Add($e) } }
  }
  return , $found
}

<# Starts a service and, first, the services it depends on (as the Service Control Manager does). #>
function Start-SimServiceEntry([hashtable]$S, [hashtable]$Ctx, [hashtable]$Table, [hashtable]$e) {
  if ($e.startType -eq 'Disabled') {
    Stop-Sim "Service '$($e.displayName) ($($e.name))' cannot be started due to the following error: Cannot start service $($e.name) on computer '.'." 'OpenError' $e.name
  }
  foreach ($d in @($e.dependsOn)) {
    $dep = Get-SimServiceEntry $Table $d
    if ($null -ne $dep -and $dep.status -ne 'Running') { Start-SimServiceEntry $S $Ctx $Table $dep }
  }
  if ($e.status -eq 'Running') { return }
  $e.status = 'Running'
  $e.starts = [int]$e.starts + 1
  if ($Ctx.kind -eq 'guest') { Invoke-SimServiceStarted $S (Get-SimVmById $S $Ctx.vmId) $e }
}

function Stop-SimServiceEntry([hashtable]$S, [hashtable]$Ctx, [hashtable]$Table, [hashtable]$e, [bool]$Force, $c) {
  $running = @($Table.Values | Where-Object { @($_.dependsOn) -contains $e.name -and $_.status -eq 'Running' })
  if ($running.Count -gt 0) {
    if (-not $Force) {
      Stop-Sim "Cannot stop service '$($e.displayName) ($($e.name))' because it has dependent services. It can only be stopped if the Force flag is set." 'InvalidOperation' $e.name 'ServiceHasDependentServices'
    }
    foreach ($d in $running) { Stop-SimServiceEntry $S $Ctx $Table $d $true $c }
  }
  if ($e.status -eq 'Stopped') { return }
  $e.status = 'Stopped'
  if ($Ctx.kind -eq 'guest') { Invoke-SimServiceStopped $S (Get-SimVmById $S $Ctx.vmId) $e }
}

<#
  What starting a guest service does besides running.
  WMSVC reads its settings when it starts: "Starting WMSVC is the last step because WMSVC cannot
  be configured while running" (MicrosoftDocs/iis-docs
  iis/manage/remote-administration/remote-administration-for-iis-manager.md; also
  iis/manage/managing-your-configuration-settings/an-overview-of-feature-delegation-in-iis.md:
  "WMSVC cannot be configured when running"). So a change of EnableRemoteManagement while it runs
  takes effect only at its next start: the running service keeps what it read.
  W3SVC starts the sites whose serverAutoStart is true (iis-docs iis/wmi-provider/site-class.md:
  "true if the Web site will start when the World Wide Web Publishing Service (WWW service)
  starts"), see guest-iis.ps1.
#>
function Invoke-SimServiceStarted([hashtable]$S, [hashtable]$vm, [hashtable]$e) {
  $g = $vm.guest
  switch ($e.name) {
    'WMSVC' {
      $v = $g.registry['hklm:\software\microsoft\webmanagement\server']
      $enabled = $null -ne $v -and $null -ne $v['EnableRemoteManagement'] -and [int]$v['EnableRemoteManagement'].value -eq 1
      $e.running = @{ remoteManagement = $enabled; port = 8172 }
    }
    'W3SVC' { Start-SimIisAutoStart $S $vm }
  }
}

function Invoke-SimServiceStopped([hashtable]$S, [hashtable]$vm, [hashtable]$e) {
  switch ($e.name) {
    'WMSVC' { $e.running = $null }
    'W3SVC' { Stop-SimIisAll $vm.guest }
  }
}

Register-SimCmdlet 'Get-Service' {
  param($c)
  $table = Get-SimServiceTable $c.S $c.Ctx
  foreach ($e in (Resolve-SimServices $c $table)) { New-SimServiceObject $table $e }
}

Register-SimCmdlet 'Set-Service' {
  param($c)
  $table = Get-SimServiceTable $c.S $c.Ctx
  $name = $(if ($c.P.ContainsKey('InputObject')) { [string]$c.P.InputObject.Name } else { [string]$c.P.Name })
  $e = Get-SimServiceEntry $table $name
  if ($null -eq $e) { Stop-Sim "Cannot find any service with service name '$name'." 'ObjectNotFound' $name 'NoServiceFoundForGivenName' }
  if ($c.P.ContainsKey('StartupType')) { $e.startType = [string]$c.P.StartupType }
  if ($c.P.ContainsKey('DisplayName')) { $e.displayName = [string]$c.P.DisplayName }
  if ($c.P.ContainsKey('Status')) {
    switch ([string]$c.P.Status) {
      'Running' { Start-SimServiceEntry $c.S $c.Ctx $table $e }
      'Stopped' { Stop-SimServiceEntry $c.S $c.Ctx $table $e ([bool]$c.P.Force) $c }
    }
  }
  if ($c.P.PassThru) { New-SimServiceObject $table $e }
}

Register-SimCmdlet 'Start-Service' {
  param($c)
  $table = Get-SimServiceTable $c.S $c.Ctx
  foreach ($e in (Resolve-SimServices $c $table)) {
    Start-SimServiceEntry $c.S $c.Ctx $table $e
    if ($c.P.PassThru) { New-SimServiceObject $table $e }
  }
}

Register-SimCmdlet 'Stop-Service' {
  param($c)
  $table = Get-SimServiceTable $c.S $c.Ctx
  foreach ($e in (Resolve-SimServices $c $table)) {
    Stop-SimServiceEntry $c.S $c.Ctx $table $e ([bool]$c.P.Force) $c
    if ($c.P.PassThru) { New-SimServiceObject $table $e }
  }
}

Register-SimCmdlet 'Restart-Service' {
  param($c)
  $table = Get-SimServiceTable $c.S $c.Ctx
  foreach ($e in (Resolve-SimServices $c $table)) {
    Stop-SimServiceEntry $c.S $c.Ctx $table $e ([bool]$c.P.Force) $c
    Start-SimServiceEntry $c.S $c.Ctx $table $e
    if ($c.P.PassThru) { New-SimServiceObject $table $e }
  }
}

# ---------------------------------------------------------------------------------------
# the registry: Get-ItemProperty / Set-ItemProperty / New-ItemProperty / Test-Path on HKLM:
# (and on IIS:, see guest-iis.ps1), on the host ($S.host.registry) or a guest
# Messages: PowerShell's (resources/RegistryProviderStrings.resx "Property {0} does not exist at
# path {1}."; NavigationResources PathNotFound "Cannot find path '{0}' because it does not
# exist."; PropertyAlreadyExists "The property already exists."). Set-ItemProperty creates a
# value that is missing; -Type names its kind (registry provider's dynamic parameter).
# ---------------------------------------------------------------------------------------

<# 'HKLM:\SOFTWARE\X', 'Registry::HKEY_LOCAL_MACHINE\SOFTWARE\X', 'HKEY_LOCAL_MACHINE\...' -> 'hklm:\software\x' #>
function ConvertTo-SimRegistryKey([string]$Path) {
  $p = $Path -replace '/', '\'
  $p = $p -replace '^(?i)(Microsoft\.PowerShell\.Core\\)?Registry::', ''
  $p = $p -replace '^(?i)HKEY_LOCAL_MACHINE(\\|$)', 'HKLM:\'
  $p = $p -replace '^(?i)HKLM:(?!\\)', 'HKLM:\'
  return $p.TrimEnd('\').ToLowerInvariant()
}

function Test-SimRegistryPath([string]$Path) { $Path -match '^(?i)(Microsoft\.PowerShell\.Core\\)?(Registry::HKEY_LOCAL_MACHINE|HKLM:|HKEY_LOCAL_MACHINE\\)' }
function Test-SimIisPath([string]$Path) { $Path -match '^(?i)IIS:' }

function Get-SimRegistry([hashtable]$S, [hashtable]$Ctx) {
  if ($Ctx.kind -eq 'guest') { return (Get-SimGuestVm $S $Ctx 'the registry').guest.registry }
  if ($null -eq $S.host.registry) { $S.host.registry = @{} }
  return $S.host.registry
}

function Get-SimRegistryDisplayPath([string]$Path) {
  ($Path -replace '^(?i)(Microsoft\.PowerShell\.Core\\)?Registry::', '' -replace '^(?i)HKLM:\\?', 'HKEY_LOCAL_MACHINE\').TrimEnd('\')
}

function Get-SimPathsOf($c) {
  if ($c.P.ContainsKey('LiteralPath')) { return @($c.P.LiteralPath) }
  return @($c.P.Path)
}

function Get-SimPropertyPaths([hashtable]$Bound) {
  @(@($Bound['Path']) + @($Bound['LiteralPath']) | Where-Object { $_ })
}

foreach ($n in @('Get-ItemProperty', 'Set-ItemProperty', 'New-ItemProperty', 'Test-Path')) {
  Register-SimIntercept $n {
    param($b)
    foreach ($p in (Get-SimPropertyPaths $b)) { if ((Test-SimRegistryPath ([string]$p)) -or (Test-SimIisPath ([string]$p))) { return $true } }
    return $false
  }
}

function ConvertTo-SimRegistryValue($Value, [string]$Kind) {
  switch ($Kind) {
    'DWord' { return [int64]$Value }
    'QWord' { return [int64]$Value }
    'MultiString' { return @($Value | ForEach-Object { [string]$_ }) }
    default { return [string]$Value }
  }
}

function Get-SimRegistryKind($Value) {
  if ($Value -is [int] -or $Value -is [int16] -or $Value -is [byte] -or $Value -is [uint32]) { return 'DWord' }
  if ($Value -is [long]) { return 'QWord' }
  if ($Value -is [array]) { return 'MultiString' }
  return 'String'
}

function New-SimRegistryItem([string]$Path, [hashtable]$Values, [string[]]$Names) {
  $o = [ordered]@{}
  foreach ($n in $Names) { $o[$n] = $Values[$n].value }
  $display = Get-SimRegistryDisplayPath $Path
  $o['PSPath'] = "Microsoft.PowerShell.Core\Registry::$display"
  $o['PSParentPath'] = "Microsoft.PowerShell.Core\Registry::" + ($display -replace '\\[^\\]*$', '')
  $o['PSChildName'] = ($display -split '\\')[-1]
  $o['PSDrive'] = 'HKLM'
  $o['PSProvider'] = 'Microsoft.PowerShell.Core\Registry'
  [pscustomobject]$o
}

Register-SimCmdlet 'Test-Path' {
  param($c)
  foreach ($p in (Get-SimPathsOf $c)) {
    if (Test-SimIisPath $p) { Test-SimIisItem $c $p; continue }
    $reg = Get-SimRegistry $c.S $c.Ctx
    $exists = $null -ne $reg[(ConvertTo-SimRegistryKey $p)]
    if ($c.P.PathType -eq 'Leaf') { $false } else { $exists }
  }
}

Register-SimCmdlet 'Get-ItemProperty' {
  param($c)
  foreach ($p in (Get-SimPathsOf $c)) {
    if (Test-SimIisPath $p) { Get-SimIisProperty $c $p; continue }
    $reg = Get-SimRegistry $c.S $c.Ctx
    $values = $reg[(ConvertTo-SimRegistryKey $p)]
    if ($null -eq $values) { & $c.Error "Cannot find path '$p' because it does not exist." 'ObjectNotFound' $p; continue }
    $names = @($values.Keys)
    if ($c.P.ContainsKey('Name')) {
      $names = @()
      foreach ($n in @($c.P.Name)) {
        $match = @($values.Keys | Where-Object { $_ -like $n })
        if ($match.Count -eq 0) { & $c.Error "Property $n does not exist at path $(Get-SimRegistryDisplayPath $p)." 'InvalidArgument' $n; continue }
        $names += $match
      }
      if ($names.Count -eq 0) { continue }
    }
    New-SimRegistryItem $p $values $names
  }
}

function Set-SimRegistryValue($c, [string]$Path, [bool]$New) {
  $reg = Get-SimRegistry $c.S $c.Ctx
  $values = $reg[(ConvertTo-SimRegistryKey $Path)]
  if ($null -eq $values) { & $c.Error "Cannot find path '$Path' because it does not exist." 'ObjectNotFound' $Path; return }
  $name = [string]$c.P.Name
  $existing = $null
  foreach ($k in @($values.Keys)) { if ($k -eq $name) { $existing = $k } }
  if ($New -and $null -ne $existing -and -not $c.P.Force) { & $c.Error 'The property already exists.' 'ResourceExists' $name; return }
  $kind = $null
  if ($New -and $c.P.PropertyType) { $kind = [string]$c.P.PropertyType }
  elseif (-not $New -and $c.P.Type) { $kind = [string]$c.P.Type }
  elseif ($null -ne $existing) { $kind = $values[$existing].kind }
  else { $kind = Get-SimRegistryKind $c.P.Value }
  if ($null -ne $existing) { $values.Remove($existing) }
  $values[$name] = @{ value = (ConvertTo-SimRegistryValue $c.P.Value $kind); kind = $kind }
  if ($New -or $c.P.PassThru) { New-SimRegistryItem $Path $values @($name) }
}

Register-SimCmdlet 'Set-ItemProperty' {
  param($c)
  if ($c.P.ContainsKey('InputObject')) { Stop-Sim 'the simulator sets registry and IIS: properties by -Name and -Value only' 'NotImplemented' }
  foreach ($p in (Get-SimPathsOf $c)) {
    if (Test-SimIisPath $p) { Set-SimIisProperty $c $p; continue }
    Set-SimRegistryValue $c $p $false
  }
}

Register-SimCmdlet 'New-ItemProperty' {
  param($c)
  foreach ($p in (Get-SimPathsOf $c)) {
    if (Test-SimIisPath $p) { Stop-Sim 'the simulator does not create IIS: properties with New-ItemProperty' 'NotImplemented' }
    Set-SimRegistryValue $c $p $true
  }
}

# ---------------------------------------------------------------------------------------
# boot: a guest restart (Restart-Computer, or the host turning the VM off and on)
# Services come up by their start type (Automatic ones run, the others stay stopped:
# remote-administration-for-iis-manager.md, "WMSVC installs with Startup Type set to Manual,
# which means that the service has to be manually restarted each time the server reboots");
# W3SVC then starts the sites whose serverAutoStart is true (iis-docs
# iis/configuration/system.applicationHost/sites/site/index.md, serverAutoStart, default true),
# and a Stop-Website before the reboot does not change serverAutoStart (see guest-iis.ps1).
# ---------------------------------------------------------------------------------------

function Invoke-SimGuestBoot([hashtable]$S, [hashtable]$vm) {
  $g = $vm.guest
  $g.msi.running = $null
  foreach ($e in @($g.services.Values)) { $e.status = 'Stopped'; $e.running = $null }
  Stop-SimIisAll $g
  $ctx = @{ kind = 'guest'; vmId = $vm.id }
  foreach ($e in @($g.services.Values | Sort-Object { $_.name })) {
    if ($e.startType -in @('Automatic', 'AutomaticDelayedStart') -and $e.status -ne 'Running') { Start-SimServiceEntry $S $ctx $g.services $e }
  }
  $g.boot.count = [int]$g.boot.count + 1
  $g.boot.since = ConvertTo-SimTimeKey $vm.since
  $g.boot.rebootAt = $null
}

Register-SimClock {
  param($S, $now)
  foreach ($vm in @($S.vms)) {
    $g = $vm.guest
    if ($null -eq $g -or -not $g.initialized) { continue }
    if ($g.boot.rebootAt) {
      if ($now -ge (ConvertTo-SimTime $g.boot.rebootAt)) { Invoke-SimGuestBoot $S $vm }
      continue
    }
    if ($vm.state -eq 'Running' -and $g.phase -eq 'ready' -and (ConvertTo-SimTimeKey $vm.since) -ne (ConvertTo-SimTimeKey $g.boot.since)) {
      # the host turned the VM off and on again: this is a new boot of the same installation
      Invoke-SimGuestBoot $S $vm
    }
  }
}

<# Restart-Computer inside a guest: it is down for bootSeconds, then boots (services, sites). #>
Register-SimCmdlet 'Restart-Computer' {
  param($c)
  if ($c.Ctx.kind -ne 'guest') { Stop-Sim 'the simulated host does not implement Restart-Computer on the Hyper-V host itself (it would restart every VM)' 'NotImplemented' }
  if ($c.P.ComputerName -and @($c.P.ComputerName | Where-Object { $_ -notin @('.', 'localhost') }).Count -gt 0) { Stop-Sim 'the simulated guest restarts itself only (no -ComputerName)' 'NotImplemented' }
  $vm = Get-SimGuestVm $c.S $c.Ctx 'Restart-Computer'
  $vm.guest.boot.rebootAt = (Get-SimNow).AddSeconds((Get-SimTiming $c.S 'bootSeconds')).ToString('o')
  foreach ($e in @($vm.guest.services.Values)) { $e.status = 'Stopped'; $e.running = $null }
  Stop-SimIisAll $vm.guest
}
