# After the Ubuntu installer powered the VM off: takes out the installer disc and the seed
# disc, deletes the seed copy (it holds the VM's SSH host key), boots from the disk.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$InstallerPath,
  [Parameter(Mandatory = $true)][string]$SeedPath,
  [Parameter(Mandatory = $true)][string]$DiskPath
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
$discs = @(Get-VMDvdDrive -VM $vm | Where-Object { $_.Path -eq $InstallerPath -or $_.Path -eq $SeedPath })
if ($discs.Count -gt 0 -and [string]$vm.State -ne 'Off') {
  throw "VM '$VMName' is $($vm.State), not Off: the installer has not finished"
}
foreach ($disc in $discs) { Remove-VMDvdDrive -VMDvdDrive $disc }
if (Test-Path -LiteralPath $SeedPath -PathType Leaf) { Remove-Item -LiteralPath $SeedPath -Force }
$disk = @(Get-VMHardDiskDrive -VM $vm | Where-Object { $_.Path -eq $DiskPath }) | Select-Object -First 1
if ($null -eq $disk) { throw "VM '$VMName' has no disk $DiskPath" }
# firmware settings only change while the VM is off; a running VM was booted here already
if ([string]$vm.State -eq 'Off') {
  Set-VMFirmware -VM $vm -FirstBootDevice $disk
  Start-VM -VM $vm
}
@{ removedDiscs = $discs.Count; state = [string](Get-VM -Id $vm.Id).State }
