# After teardown: anything of the lab still on the host, one line each (changes nothing).
param(
  [Parameter(Mandatory = $true)][string]$OwnerTag,
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$NatName,
  [Parameter(Mandatory = $true)][string]$LabRoot
)
$ErrorActionPreference = 'Stop'

$left = New-Object System.Collections.Generic.List[string]
foreach ($vm in @(Get-VM)) {
  $mark = (([string]$vm.Notes) -split "`r?`n")[0]
  if ($mark -eq $OwnerTag -or $mark.StartsWith($OwnerTag + ':')) { $left.Add("VM $($vm.Name) ($($vm.State))") }
}
$switch = @(Get-VMSwitch | Where-Object { $_.Name -eq $SwitchName -and (([string]$_.Notes) -split "`r?`n")[0] -eq $OwnerTag })
if ($switch.Count -gt 0) { $left.Add("switch $SwitchName") }
$nat = @(Get-NetNat -ErrorAction SilentlyContinue | Where-Object { $_.Name -eq $NatName })
if ($nat.Count -gt 0) { $left.Add("NAT $NatName ($($nat[0].InternalIPInterfaceAddressPrefix))") }
if (Test-Path -LiteralPath $LabRoot) {
  $count = @(Get-ChildItem -LiteralPath $LabRoot -Recurse -Force -ErrorAction SilentlyContinue).Count
  $left.Add("folder $LabRoot ($count items)")
}
@{ leftovers = $left.ToArray() }
