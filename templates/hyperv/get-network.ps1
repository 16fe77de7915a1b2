# The state of the lab's network on the host: its switch, the host's gateway address on
# the switch, and its NAT (a check; changes nothing).
param(
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$NatName,
  [Parameter(Mandatory = $true)][string]$GatewayAddress,
  [Parameter(Mandatory = $true)][int]$PrefixLength
)
$ErrorActionPreference = 'Stop'

$switch = @(Get-VMSwitch | Where-Object { $_.Name -eq $SwitchName }) | Select-Object -First 1
$switchFacts = $null
$address = $null
if ($null -ne $switch) {
  $switchFacts = @{ name = $switch.Name; type = [string]$switch.SwitchType; notes = [string]$switch.Notes }
  $vnic = @(Get-VMNetworkAdapter -ManagementOS | Where-Object { $_.SwitchName -eq $SwitchName }) | Select-Object -First 1
  if ($null -ne $vnic) {
    $mac = ([string]$vnic.MacAddress).ToUpperInvariant()
    $adapter = @(Get-NetAdapter | Where-Object { (([string]$_.MacAddress) -replace '-', '').ToUpperInvariant() -eq $mac }) | Select-Object -First 1
    if ($null -ne $adapter) {
      $ips = @(Get-NetIPAddress -InterfaceIndex $adapter.ifIndex -AddressFamily IPv4 -ErrorAction SilentlyContinue |
          ForEach-Object { '{0}/{1}' -f $_.IPAddress, $_.PrefixLength })
      $address = @{ ifIndex = [int]$adapter.ifIndex; alias = $adapter.Name; addresses = $ips; present = ($ips -contains ('{0}/{1}' -f $GatewayAddress, $PrefixLength)) }
    }
  }
}
$nat = @(Get-NetNat -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $NatName }) | Select-Object -First 1
$natFacts = $null
if ($null -ne $nat) { $natFacts = @{ name = $nat.Name; prefix = [string]$nat.InternalIPInterfaceAddressPrefix } }

@{ switch = $switchFacts; hostAddress = $address; nat = $natFacts }
