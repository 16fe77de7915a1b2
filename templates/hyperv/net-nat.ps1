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
    # WinNAT answers both cases with a bare "The parameter is incorrect."; which Windows
    # versions take a second NAT is not documented, only that some allow one per host
    # (Microsoft Learn, "Set up a NAT network")
    throw "New-NetNat failed: $(([string]$_.Exception.Message).TrimEnd('.')). Other NATs on this host: $others. Windows allows one NAT per host on some versions, and refuses a NAT whose prefix overlaps another's (overlapping prefixes are refused): remove a NAT nothing needs (Remove-NetNat -Name <name>) or choose another subnet."
  }
  throw
}
@{ created = $true }
