# Stops a lab VM, keeping its disks. By default the guest shuts down through its shutdown
# integration service: Stop-VM -Force ("the virtual machine has five minutes to save data and
# shut down", and no confirmation prompt when the guest is locked). With -Save, Save-VM keeps
# its memory on disk ("similar to hibernating a physical computer"): Start-VM resumes it.
# A VM that is off (or saved) already is left as it is.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [switch]$Save
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$before = [string]$vm.State
if ($before -eq 'Running' -or $before -eq 'Paused') {
  if ($Save) { Save-VM -VM $vm } else { Stop-VM -VM $vm -Force }
}
@{ before = $before; state = [string](Get-VM -Id $vm.Id).State }
