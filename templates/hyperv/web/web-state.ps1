# Runs in a web VM: what of the web role is there (a check; changes nothing).
param(
  [string[]]$Features = @(),
  [hashtable]$Files = @{},
  [string]$SiteName = '',
  [int]$ManagementPort = 8172,
  # with Web Deploy publishing: the site folder (the sha256 of every file in it is reported,
  # except iisnode's logs), the publishing user and the Redis password file (its sha256)
  [string]$SitePath = '',
  [string]$PublishUser = '',
  [string]$PasswordFile = ''
)
$ErrorActionPreference = 'Stop'

$featureState = @{}
foreach ($f in @(Get-WindowsFeature -Name $Features)) { $featureState[$f.Name] = [bool]$f.Installed }
$fileState = @{}
foreach ($key in @($Files.Keys)) { $fileState[$key] = Test-Path -LiteralPath ([string]$Files[$key]) }

$wmsvc = Get-Service -Name 'WMSVC' -ErrorAction SilentlyContinue
$remote = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\WebManagement\Server' -Name 'EnableRemoteManagement' -ErrorAction SilentlyContinue
$rule = @(Get-NetFirewallRule -Name 'labctl-wmsvc' -ErrorAction SilentlyContinue)

$site = $null
if ($SiteName -and (Get-Module -ListAvailable -Name 'WebAdministration')) {
  Import-Module WebAdministration
  # Get-Website -Name does not filter on every IIS version: compare the names here
  $w = @(Get-Website | Where-Object { $_.Name -eq $SiteName }) | Select-Object -First 1
  if ($null -ne $w) { $site = @{ state = [string]$w.State; physicalPath = [string]$w.PhysicalPath; bindings = [string]$w.Bindings.Collection } }
}

$siteFiles = $null
if ($SitePath -and (Test-Path -LiteralPath $SitePath -PathType Container)) {
  $siteFiles = @{}
  $root = (Resolve-Path -LiteralPath $SitePath).ProviderPath.TrimEnd('\', '/')
  foreach ($f in @(Get-ChildItem -LiteralPath $SitePath -Recurse -File)) {
    $rel = $f.FullName.Substring($root.Length).TrimStart('\', '/') -replace '\\', '/'
    if ($rel -match '^iisnode(/|$)') { continue }
    $siteFiles[$rel] = (Get-FileHash -LiteralPath $f.FullName -Algorithm SHA256).Hash.ToLowerInvariant()
  }
}

$publishing = $null
if ($PublishUser) {
  $user = Get-LocalUser -Name $PublishUser -ErrorAction SilentlyContinue
  $authorized = $false
  $dll = Join-Path -Path $env:windir -ChildPath 'System32\inetsrv\Microsoft.Web.Management.dll'
  if ($SiteName -and $null -ne $site -and (Test-Path -LiteralPath $dll)) {
    Add-Type -Path $dll
    $who = '{0}\{1}' -f $env:COMPUTERNAME, $PublishUser
    $authorized = @([Microsoft.Web.Management.Server.ManagementAuthorization]::GetAuthorizedUsers($SiteName, $false, 0, [int]::MaxValue) | Where-Object { $_.Name -eq $who }).Count -gt 0
  }
  $modify = $false
  if ($SitePath -and (Test-Path -LiteralPath $SitePath)) {
    # icacls <folder> lists the entries as DOMAIN\user:(flags)(rights)
    $ErrorActionPreference = 'Continue'
    $acl = & icacls.exe $SitePath 2>&1 | Out-String
    $ErrorActionPreference = 'Stop'
    $modify = $acl -match ('\\{0}:\(OI\)\(CI\)\((M|F)\)' -f [regex]::Escape($PublishUser))
  }
  $publishing = @{ user = ($null -ne $user); authorized = $authorized; modify = [bool]$modify }
}

$passwordSha256 = $null
if ($PasswordFile -and (Test-Path -LiteralPath $PasswordFile -PathType Leaf)) {
  $passwordSha256 = (Get-FileHash -LiteralPath $PasswordFile -Algorithm SHA256).Hash.ToLowerInvariant()
}

@{
  features = $featureState
  files    = $fileState
  wmsvc    = $(if ($null -ne $wmsvc) { @{ status = [string]$wmsvc.Status; startType = [string]$wmsvc.StartType } } else { $null })
  remoteManagement = ($null -ne $remote -and [int]$remote.EnableRemoteManagement -eq 1)
  firewall = ($rule.Count -gt 0)
  site     = $site
  siteFiles = $siteFiles
  publishing = $publishing
  passwordSha256 = $passwordSha256
}
