# Runs in a web VM: what of the web role is there (a check; changes nothing).
param(
  [string[]]$Features = @(),
  [hashtable]$Files = @{},
  [string]$SiteName = '',
  [int]$ManagementPort = 8172
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

@{
  features = $featureState
  files    = $fileState
  wmsvc    = $(if ($null -ne $wmsvc) { @{ status = [string]$wmsvc.Status; startType = [string]$wmsvc.StartType } } else { $null })
  remoteManagement = ($null -ne $remote -and [int]$remote.EnableRemoteManagement -eq 1)
  firewall = ($rule.Count -gt 0)
  site     = $site
}
