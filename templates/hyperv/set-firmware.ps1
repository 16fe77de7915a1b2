# Secure Boot on with the given template, and the first boot device: the drive (DVD or
# disk) that holds FirstBootPath.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][ValidateSet('MicrosoftWindows', 'MicrosoftUEFICertificateAuthority')][string]$SecureBootTemplate,
  [Parameter(Mandatory = $true)][string]$FirstBootPath
)
$ErrorActionPreference = 'Stop'

$vm = @(Get-VM | Where-Object { $_.Name -eq $VMName }) | Select-Object -First 1
if ($null -eq $vm) { throw "no VM named '$VMName'" }
try {
  Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplate $SecureBootTemplate
} catch {
  # some hosts reject the template's name; its id is the same template
  # (272e7447-... = MicrosoftUEFICertificateAuthority, 1734c6e8-... = MicrosoftWindows)
  $ids = @{ MicrosoftUEFICertificateAuthority = '272e7447-90a4-4563-a4b9-8e4ab00526ce'; MicrosoftWindows = '1734c6e8-3154-4dda-ba5f-a874cc483422' }
  Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplateId $ids[$SecureBootTemplate]
}
$device = @(Get-VMDvdDrive -VM $vm | Where-Object { $_.Path -eq $FirstBootPath }) | Select-Object -First 1
if ($null -eq $device) { $device = @(Get-VMHardDiskDrive -VM $vm | Where-Object { $_.Path -eq $FirstBootPath }) | Select-Object -First 1 }
if ($null -eq $device) { throw "VM '$VMName' has no drive holding $FirstBootPath" }
Set-VMFirmware -VM $vm -FirstBootDevice $device
$fw = Get-VMFirmware -VM $vm
@{ secureBoot = [string]$fw.SecureBoot; template = [string]$fw.SecureBootTemplate }
