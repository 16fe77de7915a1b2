# The IPv4 DNS servers the host itself uses on its connected adapters: the lab's VMs get
# the same ones, reached through the lab's NAT.
param(
  [string]$ExcludeSwitchName = ''
)
$ErrorActionPreference = 'Stop'

$up = @(Get-NetAdapter | Where-Object { $_.Status -eq 'Up' } | ForEach-Object { [int]$_.ifIndex })
$servers = New-Object System.Collections.Generic.List[string]
foreach ($entry in @(Get-DnsClientServerAddress -AddressFamily IPv4)) {
  if ($up -notcontains [int]$entry.InterfaceIndex) { continue }
  if ($ExcludeSwitchName -and $entry.InterfaceAlias -eq "vEthernet ($ExcludeSwitchName)") { continue }
  foreach ($ip in @($entry.ServerAddresses)) {
    if ($ip -like '127.*' -or $ip -like '169.254.*' -or $ip -eq '0.0.0.0') { continue }
    if (-not $servers.Contains($ip)) { $servers.Add($ip) }
  }
}
@{ servers = $servers.ToArray() }
