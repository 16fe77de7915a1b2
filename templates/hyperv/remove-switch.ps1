# Removes the lab's switch, only if its Notes carry the lab's mark and no VM outside the
# lab is connected to it.
param(
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$OwnerTag
)
$ErrorActionPreference = 'Stop'

$switch = @(Get-VMSwitch | Where-Object { $_.Name -eq $SwitchName }) | Select-Object -First 1
if ($null -eq $switch) { return @{ removed = $false } }
if ((([string]$switch.Notes) -split "`r?`n")[0] -ne $OwnerTag) { throw "switch '$SwitchName' does not carry '$OwnerTag' in its notes: left alone" }
$users = @(Get-VMNetworkAdapter -All | Where-Object { $_.SwitchName -eq $SwitchName -and -not $_.IsManagementOs } | ForEach-Object { [string]$_.VMName } | Select-Object -Unique)
if ($users.Count -gt 0) { throw "switch '$SwitchName' is still used by VM $($users -join ', '): left in place" }
Remove-VMSwitch -Name $SwitchName -Force
@{ removed = $true }
