# Creates one lab VM: Generation 2, fixed memory, no disk yet, one adapter on the lab switch
# with the machine's static MAC, Notes that mark it as the lab's, optionally COM1 on a pipe.
param(
  [Parameter(Mandatory = $true)][string]$Name,
  [Parameter(Mandatory = $true)][string]$Path,
  [Parameter(Mandatory = $true)][long]$MemoryBytes,
  [Parameter(Mandatory = $true)][int]$ProcessorCount,
  [Parameter(Mandatory = $true)][string]$SwitchName,
  [Parameter(Mandatory = $true)][string]$MacAddress,
  [Parameter(Mandatory = $true)][string]$OwnerTag,
  [Parameter(Mandatory = $true)][string]$Notes,
  [string]$ComPipe = '',
  # set when the journal says labctl created this VM (its Notes may be missing after an interrupted run)
  [switch]$Adopt
)
$ErrorActionPreference = 'Stop'

$found = @(Get-VM | Where-Object { $_.Name -eq $Name })
if ($found.Count -gt 1) { throw "$($found.Count) VMs are named '$Name': labctl cannot tell which is the lab's; rename the others" }
$created = $false
if ($found.Count -eq 1) {
  $vm = $found[0]
  $ours = (([string]$vm.Notes) -split "`r?`n")[0] -eq $OwnerTag
  if (-not $ours -and -not $Adopt) {
    throw "a VM named '$Name' exists and labctl did not create it (its notes lack '$OwnerTag'): labctl leaves it alone; remove or rename it"
  }
} else {
  $vm = New-VM -Name $Name -Path $Path -Generation 2 -MemoryStartupBytes $MemoryBytes -NoVHD -SwitchName $SwitchName
  $created = $true
}
# Notes first: from here on the VM is recognisably the lab's even if a later line fails
Set-VM -VM $vm -Notes $Notes
Set-VM -VM $vm -ProcessorCount $ProcessorCount -StaticMemory -MemoryStartupBytes $MemoryBytes -AutomaticCheckpointsEnabled $false -AutomaticStartAction Nothing -AutomaticStopAction ShutDown
$adapter = @(Get-VMNetworkAdapter -VM $vm) | Select-Object -First 1
if ($null -eq $adapter) {
  Add-VMNetworkAdapter -VM $vm -SwitchName $SwitchName -StaticMacAddress $MacAddress
} else {
  if ([string]$adapter.SwitchName -ne $SwitchName) { Connect-VMNetworkAdapter -VMNetworkAdapter $adapter -SwitchName $SwitchName }
  if (([string]$adapter.MacAddress).ToUpperInvariant() -ne $MacAddress.ToUpperInvariant()) { Set-VMNetworkAdapter -VMNetworkAdapter $adapter -StaticMacAddress $MacAddress }
}
if ($ComPipe) { Set-VMComPort -VM $vm -Number 1 -Path $ComPipe }
@{ created = $created; id = [string]$vm.Id; path = [string]$vm.Path }
