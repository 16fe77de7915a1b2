# Runs in a web VM: the Web Management Service accepts remote connections (set while it is
# stopped: it reads the setting at start), starts automatically, and TCP 8172 is open.
param(
  [int]$Port = 8172
)
$ErrorActionPreference = 'Stop'

$key = 'HKLM:\SOFTWARE\Microsoft\WebManagement\Server'
$current = Get-ItemProperty -Path $key -Name 'EnableRemoteManagement' -ErrorAction SilentlyContinue
if ($null -eq $current -or [int]$current.EnableRemoteManagement -ne 1) {
  Stop-Service -Name 'WMSVC' -ErrorAction SilentlyContinue
  Set-ItemProperty -Path $key -Name 'EnableRemoteManagement' -Value 1 -Type DWord
}
Set-Service -Name 'WMSVC' -StartupType Automatic
Start-Service -Name 'WMSVC'
if (@(Get-NetFirewallRule -Name 'labctl-wmsvc' -ErrorAction SilentlyContinue).Count -eq 0) {
  New-NetFirewallRule -Name 'labctl-wmsvc' -DisplayName 'labctl: Web Management Service (TCP 8172)' -Direction Inbound -Protocol TCP -LocalPort $Port -Action Allow | Out-Null
}
@{ status = [string](Get-Service -Name 'WMSVC').Status }
