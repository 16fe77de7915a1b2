# Runs in a web VM: the chat app's IIS site, with either way of publishing (hyperv.publish):
# - its own app pool (no managed code) and the site on the app's port over SitePath: a fixed
#   folder Web Deploy syncs into, or the version folder just copied in over PowerShell Direct
#   (-NewContent: it must hold web.config, and the pool is recycled to run it);
# - the Redis password in a file only the pool and administrators can read (rewritten, and the
#   pool recycled, the app reads it at start, only when it changed), TCP <port> open;
# - the site on the same port (Default Web Site) stopped, and it does not start again at the next boot.
param(
  [Parameter(Mandatory = $true)][string]$SiteName,
  [Parameter(Mandatory = $true)][string]$SitePath,
  [Parameter(Mandatory = $true)][int]$Port,
  [Parameter(Mandatory = $true)][string]$PasswordFile,
  [Parameter(Mandatory = $true)][string]$RedisPassword,
  [switch]$NewContent
)
$ErrorActionPreference = 'Stop'

Import-Module WebAdministration
if ($NewContent -and -not (Test-Path -LiteralPath (Join-Path -Path $SitePath -ChildPath 'web.config'))) { throw "$SitePath has no web.config: the copy is incomplete" }
$pool = $SiteName
if (-not (Test-Path -Path "IIS:\AppPools\$pool")) { New-WebAppPool -Name $pool | Out-Null }
Set-ItemProperty -Path "IIS:\AppPools\$pool" -Name 'managedRuntimeVersion' -Value ''
if (-not (Test-Path -LiteralPath $SitePath)) { New-Item -ItemType Directory -Path $SitePath -Force | Out-Null }

$folder = Split-Path -Path $PasswordFile -Parent
if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
$passwordChanged = $true
if (Test-Path -LiteralPath $PasswordFile) { $passwordChanged = (Get-Content -LiteralPath $PasswordFile -Raw) -cne $RedisPassword }
if ($passwordChanged) { Set-Content -LiteralPath $PasswordFile -Value $RedisPassword -NoNewline -Encoding ASCII }
# icacls prints to stderr on some errors: its exit code decides
$ErrorActionPreference = 'Continue'
$aclOutput = & icacls.exe $PasswordFile /inheritance:r /grant:r 'Administrators:(F)' "IIS AppPool\${pool}:(R)" 2>&1 | Out-String
$aclExit = $LASTEXITCODE
$ErrorActionPreference = 'Stop'
if ($aclExit -ne 0) { throw "icacls on $PasswordFile failed ($aclExit): $aclOutput" }

$rule = @(Get-NetFirewallRule -Name 'labctl-app' -ErrorAction SilentlyContinue)
if ($rule.Count -gt 0 -and [string]($rule[0] | Get-NetFirewallPortFilter).LocalPort -ne [string]$Port) { Remove-NetFirewallRule -Name 'labctl-app'; $rule = @() }
if ($rule.Count -eq 0) {
  New-NetFirewallRule -Name 'labctl-app' -DisplayName ('labctl: chat app (TCP {0})' -f $Port) -Direction Inbound -Protocol TCP -LocalPort $Port -Action Allow | Out-Null
}

# Stop-Website alone lasts until W3SVC starts again (the next boot), when every site whose
# serverAutoStart is true (the default) starts, the Default Web Site first, and takes the port
# back. Its serverAutoStart off keeps it as it is, for anyone who wants it back, but stopped.
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
if ($poolState -ne 'Started') { Start-WebAppPool -Name $pool } elseif ($passwordChanged -or $NewContent) { Restart-WebAppPool -Name $pool }
Start-Website -Name $SiteName

$now = @(Get-Website | Where-Object { $_.Name -eq $SiteName }) | Select-Object -First 1
@{ site = $SiteName; physicalPath = [string]$now.PhysicalPath; state = [string]$now.State }
