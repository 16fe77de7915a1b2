# Removes the lab's NetNat, only if it still has the prefix labctl gave it.
param(
  [Parameter(Mandatory = $true)][string]$NatName,
  [Parameter(Mandatory = $true)][string]$Prefix
)
$ErrorActionPreference = 'Stop'

$nat = @(Get-NetNat -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $NatName }) | Select-Object -First 1
if ($null -eq $nat) { return @{ removed = $false } }
if ([string]$nat.InternalIPInterfaceAddressPrefix -ne $Prefix) {
  throw "NAT '$NatName' now covers $($nat.InternalIPInterfaceAddressPrefix), not the lab's $Prefix`: left alone"
}
Remove-NetNat -Name $NatName -Confirm:$false
@{ removed = $true }
