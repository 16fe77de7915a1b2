# Which host interface traffic to a lab address leaves by, and whether that is the lab
# switch's adapter (labctl sends nothing into the lab by any other way).
param(
  [Parameter(Mandatory = $true)][string]$IPAddress,
  [Parameter(Mandatory = $true)][string]$SwitchName
)
$ErrorActionPreference = 'Stop'

$route = @(Find-NetRoute -RemoteIPAddress $IPAddress -ErrorAction SilentlyContinue) | Where-Object { $_.InterfaceIndex } | Select-Object -First 1
$vnic = @(Get-VMNetworkAdapter -ManagementOS | Where-Object { $_.SwitchName -eq $SwitchName }) | Select-Object -First 1
$labIndex = $null
if ($null -ne $vnic) {
  $mac = ([string]$vnic.MacAddress).ToUpperInvariant()
  $adapter = @(Get-NetAdapter | Where-Object { (([string]$_.MacAddress) -replace '-', '').ToUpperInvariant() -eq $mac }) | Select-Object -First 1
  if ($null -ne $adapter) { $labIndex = [int]$adapter.ifIndex }
}
$via = $null
if ($null -ne $route) { $via = [int]$route.InterfaceIndex }
@{ ifIndex = $via; alias = $(if ($null -ne $route) { [string]$route.InterfaceAlias } else { '' }); labIfIndex = $labIndex; viaLab = ($null -ne $via -and $via -eq $labIndex) }
