# Runs in a web VM: points an IIS site (its own app pool, no managed code) at the app
# folder that was just copied in, with the Redis password in a file only the pool and
# administrators can read. The site on the same port (Default Web Site) is stopped and does not
# start again at the next boot.
param(
  [Parameter(Mandatory = $true)][string]$AppPath,
  [Parameter(Mandatory = $true)][string]$SiteName,
  [Parameter(Mandatory = $true)][int]$Port,
  [Parameter(Mandatory = $true)][string]$PasswordFile,
  [Parameter(Mandatory = $true)][string]$RedisPassword
)
$ErrorActionPreference = 'Stop'

Import-Module WebAdministration
if (-not (Test-Path -LiteralPath (Join-Path -Path $AppPath -ChildPath 'web.config'))) { throw "$AppPath has no web.config: the copy is incomplete" }
$pool = $SiteName
if (-not (Test-Path -Path "IIS:\AppPools\$pool")) { New-WebAppPool -Name $pool | Out-Null }
Set-ItemProperty -Path "IIS:\AppPools\$pool" -Name 'managedRuntimeVersion' -Value ''

$folder = Split-Path -Path $PasswordFile -Parent
if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
Set-Content -LiteralPath $PasswordFile -Value $RedisPassword -NoNewline -Encoding ASCII
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

# Another site on the port (the Default Web Site on 80) is stopped for good: Stop-Website alone
# lasts until W3SVC starts again (the next boot), when every site whose serverAutoStart is true
# (the default) starts, the Default Web Site first, and takes the port back from ours. Turning its
# serverAutoStart off keeps the site as it is, for anyone who wants it back, but stopped.
foreach ($other in @(Get-Website | Where-Object { $_.Name -ne $SiteName })) {
  if (([string]$other.Bindings.Collection) -match (':{0}:' -f $Port)) {
    Set-ItemProperty -Path "IIS:\Sites\$($other.Name)" -Name 'serverAutoStart' -Value $false
    if ([string]$other.State -ne 'Stopped') { Stop-Website -Name $other.Name }
  }
}
# Get-Website -Name does not filter on every IIS version: compare the names here
$site = @(Get-Website | Where-Object { $_.Name -eq $SiteName }) | Select-Object -First 1
if ($null -eq $site) {
  New-Website -Name $SiteName -PhysicalPath $AppPath -Port $Port -ApplicationPool $pool -Force | Out-Null
} else {
  Set-ItemProperty -Path "IIS:\Sites\$SiteName" -Name 'physicalPath' -Value $AppPath
}
Set-ItemProperty -Path "IIS:\Sites\$SiteName" -Name 'serverAutoStart' -Value $true
if ([string](Get-WebAppPoolState -Name $pool).Value -eq 'Started') { Restart-WebAppPool -Name $pool } else { Start-WebAppPool -Name $pool }
Start-Website -Name $SiteName
$now = @(Get-Website | Where-Object { $_.Name -eq $SiteName }) | Select-Object -First 1
@{ site = $SiteName; physicalPath = $AppPath; state = [string]$now.State }
