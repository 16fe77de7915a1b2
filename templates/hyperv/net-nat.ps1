# Creates the lab's NetNat for its subnet, unless it is there with the same prefix.
param(
  [Parameter(Mandatory = $true)][string]$NatName,
  [Parameter(Mandatory = $true)][string]$Prefix
)
$ErrorActionPreference = 'Stop'

$all = @(Get-NetNat -ErrorAction SilentlyContinue)
$mine = @($all | Where-Object { $_.Name -eq $NatName })
if ($mine.Count -gt 0) {
  if ([string]$mine[0].InternalIPInterfaceAddressPrefix -eq $Prefix) { return @{ created = $false } }
  throw "NAT '$NatName' exists for $($mine[0].InternalIPInterfaceAddressPrefix), not ${Prefix}: labctl did not create it this way; remove it (Remove-NetNat -Name '$NatName') or rename the lab"
}
try {
  New-NetNat -Name $NatName -InternalIPInterfaceAddressPrefix $Prefix | Out-Null
} catch {
  $others = ($all | ForEach-Object { '{0} ({1})' -f $_.Name, $_.InternalIPInterfaceAddressPrefix }) -join ', '
  if ($others) {
    throw "New-NetNat failed: $($_.Exception.Message). Other NATs on this host: $others. Windows before Server 2022 / Windows 11 allows a single NetNat; overlapping prefixes are refused on all versions."
  }
  throw
}
@{ created = $true }
