# Whether PowerShell Direct into the VM answers with the administrator's credential (the
# last sign that Windows setup finished). Returns the reason when it does not; never throws
# for an unready guest.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$UserName,
  [Parameter(Mandatory = $true)][string]$Password
)
$ErrorActionPreference = 'Stop'

$secure = ConvertTo-SecureString -String $Password -AsPlainText -Force
$credential = New-Object System.Management.Automation.PSCredential -ArgumentList $UserName, $secure
try {
  $name = Invoke-Command -VMName $VMName -Credential $credential -ScriptBlock { $env:COMPUTERNAME }
  @{ answered = $true; computerName = [string]$name }
} catch {
  @{ answered = $false; reason = $_.Exception.Message }
}
