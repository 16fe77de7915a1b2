# Gives the host's adapter on the lab switch the lab's gateway address (static).
param(
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$IPAddress,
  [Parameter(Mandatory = $true)][int]$PrefixLength
)
$ErrorActionPreference = 'Stop'

# found through the host vNIC's MAC: the adapter's name ("vEthernet (...)") is not a key.
# A switch made a moment ago may not show its adapter yet: look again for a while. A Private
# switch never has one: no need to wait for it.
$switch = @(Get-VMSwitch | Where-Object { $_.Name -eq $SwitchName }) | Select-Object -First 1
if ($null -eq $switch) { throw "no switch named '$SwitchName'" }
if ([string]$switch.SwitchType -eq 'Private') { throw "switch '$SwitchName' has no host adapter: it must be an Internal switch (it is Private)" }
$vnic = $null
$adapter = $null
$deadline = (Get-Date).AddSeconds(60)
do {
  $vnic = @(Get-VMNetworkAdapter -ManagementOS | Where-Object { $_.SwitchName -eq $SwitchName }) | Select-Object -First 1
  if ($null -ne $vnic) {
    $mac = ([string]$vnic.MacAddress).ToUpperInvariant()
    $adapter = @(Get-NetAdapter | Where-Object { (([string]$_.MacAddress) -replace '-', '').ToUpperInvariant() -eq $mac }) | Select-Object -First 1
  }
  if ($null -ne $adapter) { break }
  Start-Sleep -Milliseconds 500
} while ((Get-Date) -lt $deadline)
if ($null -eq $vnic) { throw "switch '$SwitchName' has no host adapter: it must be an Internal switch" }
if ($null -eq $adapter) { throw "no network adapter with the MAC of switch '$SwitchName' ($($vnic.MacAddress))" }

$current = @(Get-NetIPAddress -InterfaceIndex $adapter.ifIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue)
$same = @($current | Where-Object { $_.IPAddress -eq $IPAddress })
if ($same.Count -gt 0 -and [int]$same[0].PrefixLength -eq $PrefixLength) {
  return @{ changed = $false; ifIndex = [int]$adapter.ifIndex }
}
# only this lab's own adapter is touched: a wrong prefix from an interrupted run is replaced
foreach ($old in $same) { Remove-NetIPAddress -InputObject $old -Confirm:$false }
Set-NetIPInterface -InterfaceIndex $adapter.ifIndex -AddressFamily IPv4 -Dhcp Disabled
New-NetIPAddress -InterfaceIndex $adapter.ifIndex -IPAddress $IPAddress -PrefixLength $PrefixLength | Out-Null
@{ changed = $true; ifIndex = [int]$adapter.ifIndex }
