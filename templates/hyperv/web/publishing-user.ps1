# Runs in a web VM, after site.ps1: the user Web Deploy publishes the chat app as, a
# non-administrator, as the tutorial publishes (Visual Studio -> Publish -> Web Deploy): a local
# Windows user with IIS Manager Permissions on the site (so WMSvc lets it connect to that site, and
# Web Deploy's delegation rule lets it sync content there) and Modify on the site folder (the rule
# runs as that user).
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
  [Parameter(Mandatory = $true)][string]$PublishUser,
  [Parameter(Mandatory = $true)][string]$PublishPassword
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $SitePath -PathType Container)) { throw "$SitePath does not exist: site.ps1 makes it first" }

# A local user that is not an administrator (New-LocalUser makes a member of Users only), its
# password the one labctl keeps (set again on every run, so the lab's .publishsettings always
# works), never expiring (a lab that sits for months still publishes).
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
# rule runs as this user, who must create, change and delete files there.
# icacls prints to stderr on some errors: its exit code decides
$ErrorActionPreference = 'Continue'
$aclOutput = & icacls.exe $SitePath /grant "${PublishUser}:(OI)(CI)M" 2>&1 | Out-String
$aclExit = $LASTEXITCODE
$ErrorActionPreference = 'Stop'
if ($aclExit -ne 0) { throw "icacls on $SitePath failed ($aclExit): $aclOutput" }

@{ user = $PublishUser; authorized = $who }
