# Removes the lab's gateway address from the host's adapter on the lab switch (nothing to
# do when the switch is already gone: the address went with it).
param(
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$IPAddress
)
$ErrorActionPreference = 'Stop'

$vnic = @(Get-VMNetworkAdapter -ManagementOS | Where-Object { $_.SwitchName -eq $SwitchName }) | Select-Object -First 1
if ($null -eq $vnic) { return @{ removed = $false } }
$mac = ([string]$vnic.MacAddress).ToUpperInvariant()
$adapter = @(Get-NetAdapter | Where-Object { (([string]$_.MacAddress) -replace '-', '').ToUpperInvariant() -eq $mac }) | Select-Object -First 1
if ($null -eq $adapter) { return @{ removed = $false } }
$address = @(Get-NetIPAddress -InterfaceIndex $adapter.ifIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue | Where-Object { $_.IPAddress -eq $IPAddress })
foreach ($a in $address) { Remove-NetIPAddress -InputObject $a -Confirm:$false }
@{ removed = ($address.Count -gt 0) }
