# Runs in a web VM: everything Web Deploy needs to publish the chat app to it as a
# non-administrator, as the tutorial publishes (Visual Studio -> Publish -> Web Deploy):
# - the IIS site and its own app pool (no managed code), on the app's port, over a fixed folder
#   that Web Deploy syncs into; the site on the same port (Default Web Site) is stopped and does
#   not start again at the next boot;
# - the Redis password in a file only the pool and administrators can read, TCP <port> open;
# - the publishing user: a local Windows user that is not an administrator, with IIS Manager
#   Permissions on the site (so WMSvc lets it connect to that site, and Web Deploy's delegation
#   rule lets it sync content there) and Modify on the site folder (the rule runs as that user).
#
# Why these steps here rather than Web Deploy's own SetupSiteForPublish.ps1 (installed under
# %ProgramFiles%\IIS\Microsoft Web Deploy V3\Scripts): that script does the same three things
# for the user (a local user through ADSI, ManagementAuthorization.Grant, an ACL on the folder)
# but cannot be run again safely: it reports failures with Write-Host and carries on (every step
# is trapped), it sets the password only when it creates the user (a second run leaves a
# publishsettings without a password and no way to give the lab's own), it grants Full Control
# (more than publishing content needs: Modify lets the user add, change and delete files), it
# writes the password into a file on the guest's desktop and a log into the current folder, and
# it adds Enable32BitAppOnWin64 to a pool it creates. The same documented API calls are made here
# (iis-docs "PowerShell scripts for automating Web Deploy setup" and "Configure the Web
# Deployment Handler"), each checked, idempotent, with the password labctl keeps in its secrets.
param(
  [Parameter(Mandatory = $true)][string]$SiteName,
  [Parameter(Mandatory = $true)][string]$SitePath,
  [Parameter(Mandatory = $true)][int]$Port,
  [Parameter(Mandatory = $true)][string]$PasswordFile,
  [Parameter(Mandatory = $true)][string]$RedisPassword,
  [Parameter(Mandatory = $true)][string]$PublishUser,
  [Parameter(Mandatory = $true)][string]$PublishPassword
)
$ErrorActionPreference = 'Stop'

Import-Module WebAdministration
$pool = $SiteName
if (-not (Test-Path -Path "IIS:\AppPools\$pool")) { New-WebAppPool -Name $pool | Out-Null }
Set-ItemProperty -Path "IIS:\AppPools\$pool" -Name 'managedRuntimeVersion' -Value ''
if (-not (Test-Path -LiteralPath $SitePath)) { New-Item -ItemType Directory -Path $SitePath -Force | Out-Null }

# icacls prints to stderr on some errors: its exit code decides
function Invoke-Icacls([string[]]$Arguments) {
  $ErrorActionPreference = 'Continue'
  $output = & icacls.exe @Arguments 2>&1 | Out-String
  $code = $LASTEXITCODE
  $ErrorActionPreference = 'Stop'
  if ($code -ne 0) { throw "icacls $($Arguments -join ' ') failed ($code): $output" }
}

# the Redis password: rewritten (and the pool recycled, the app reads it at start) only when it changed
$folder = Split-Path -Path $PasswordFile -Parent
if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
$passwordChanged = $true
if (Test-Path -LiteralPath $PasswordFile) { $passwordChanged = (Get-Content -LiteralPath $PasswordFile -Raw) -cne $RedisPassword }
if ($passwordChanged) { Set-Content -LiteralPath $PasswordFile -Value $RedisPassword -NoNewline -Encoding ASCII }
Invoke-Icacls @($PasswordFile, '/inheritance:r', '/grant:r', 'Administrators:(F)', "IIS AppPool\${pool}:(R)")

$rule = @(Get-NetFirewallRule -Name 'labctl-app' -ErrorAction SilentlyContinue)
if ($rule.Count -gt 0 -and [string]($rule[0] | Get-NetFirewallPortFilter).LocalPort -ne [string]$Port) { Remove-NetFirewallRule -Name 'labctl-app'; $rule = @() }
if ($rule.Count -eq 0) {
  New-NetFirewallRule -Name 'labctl-app' -DisplayName ('labctl: chat app (TCP {0})' -f $Port) -Direction Inbound -Protocol TCP -LocalPort $Port -Action Allow | Out-Null
}

# Another site on the port (the Default Web Site on 80) is stopped for good: Stop-Website alone
# lasts until W3SVC starts again (the next boot), when every site whose serverAutoStart is true
# starts, the Default Web Site first, and takes the port back. Its serverAutoStart off keeps it
# as it is, for anyone who wants it back, but stopped.
foreach ($other in @(Get-Website | Where-Object { $_.Name -ne $SiteName })) {
  if (([string]$other.Bindings.Collection) -match (':{0}:' -f $Port)) {
    Set-ItemProperty -Path "IIS:\Sites\$($other.Name)" -Name 'serverAutoStart' -Value $false
    if ([string]$other.State -ne 'Stopped') { Stop-Website -Name $other.Name }
  }
}
# Get-Website -Name does not filter on every IIS version: compare the names here
$site = @(Get-Website | Where-Object { $_.Name -eq $SiteName }) | Select-Object -First 1
if ($null -eq $site) {
  New-Website -Name $SiteName -PhysicalPath $SitePath -Port $Port -ApplicationPool $pool -Force | Out-Null
} elseif ([string]$site.PhysicalPath -ne $SitePath) {
  Set-ItemProperty -Path "IIS:\Sites\$SiteName" -Name 'physicalPath' -Value $SitePath
}
Set-ItemProperty -Path "IIS:\Sites\$SiteName" -Name 'serverAutoStart' -Value $true
$poolState = [string](Get-WebAppPoolState -Name $pool).Value
if ($poolState -ne 'Started') { Start-WebAppPool -Name $pool } elseif ($passwordChanged) { Restart-WebAppPool -Name $pool }
Start-Website -Name $SiteName

# The publishing user: a local user that is not an administrator (New-LocalUser makes a member of
# Users only), its password the one labctl keeps (set again on every run, so the lab's
# .publishsettings always works), never expiring (a lab that sits for months still publishes).
$secure = ConvertTo-SecureString -String $PublishPassword -AsPlainText -Force
$user = Get-LocalUser -Name $PublishUser -ErrorAction SilentlyContinue
if ($null -eq $user) {
  New-LocalUser -Name $PublishUser -Password $secure -PasswordNeverExpires -UserMayNotChangePassword -Description 'labctl: publishes the chat app with Web Deploy' | Out-Null
} else {
  Set-LocalUser -Name $PublishUser -Password $secure -PasswordNeverExpires $true
}

# IIS Manager Permissions on the site: the API Web Deploy's SetupSiteForPublish.ps1 uses
# (Microsoft.Web.Management, the Management Service's assembly in inetsrv); a Windows user is
# named COMPUTER\user there, and granted once (look first, as that script does).
Add-Type -Path (Join-Path -Path $env:windir -ChildPath 'System32\inetsrv\Microsoft.Web.Management.dll')
$who = '{0}\{1}' -f $env:COMPUTERNAME, $PublishUser
$authorized = @([Microsoft.Web.Management.Server.ManagementAuthorization]::GetAuthorizedUsers($SiteName, $false, 0, [int]::MaxValue) | Where-Object { $_.Name -eq $who })
if ($authorized.Count -eq 0) { [void][Microsoft.Web.Management.Server.ManagementAuthorization]::Grant($who, $SiteName, $false) }

# Modify on the site folder, inherited by every file and folder below it: Web Deploy's content
# rule runs as this user, who must create, change and delete files there
Invoke-Icacls @($SitePath, '/grant', "${PublishUser}:(OI)(CI)M")

$now = @(Get-Website | Where-Object { $_.Name -eq $SiteName }) | Select-Object -First 1
@{ site = $SiteName; physicalPath = [string]$now.PhysicalPath; state = [string]$now.State; user = $PublishUser; authorized = $who }
