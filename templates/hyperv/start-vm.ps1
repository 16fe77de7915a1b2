# Starts a lab VM (or resumes it when paused); a running VM is left as it is.
param(
  [Parameter(Mandatory = $true)][string]$VMName
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$before = [string]$vm.State
if ($before -eq 'Paused') { Resume-VM -VM $vm }
elseif ($before -ne 'Running') { Start-VM -VM $vm }
@{ before = $before; state = [string](Get-VM -Id $vm.Id).State }
