# Creates the lab's Internal switch, unless the switch labctl made for this lab is there.
# A switch of the same name that is not labctl's is never used or changed.
param(
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$OwnerTag,
  [Parameter(Mandatory = $true)][string]$Notes
)
$ErrorActionPreference = 'Stop'

$existing = @(Get-VMSwitch | Where-Object { $_.Name -eq $SwitchName })
if ($existing.Count -gt 0) {
  $first = $existing[0]
  # the first line of Notes is labctl's mark: labctl:<lab>
  if ((([string]$first.Notes) -split "`r?`n")[0] -eq $OwnerTag) {
    return @{ created = $false; id = [string]$first.Id }
  }
  throw "a switch named '$SwitchName' exists and labctl did not create it (its notes lack '$OwnerTag'): labctl leaves it alone; remove it or set hyperv.switch to another name"
}
$switch = New-VMSwitch -Name $SwitchName -SwitchType Internal -Notes $Notes
@{ created = $true; id = [string]$switch.Id }
