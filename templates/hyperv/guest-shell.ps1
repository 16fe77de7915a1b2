# labctl ssh web1 on Hyper-V: an interactive PowerShell Direct session into a Windows VM,
# started in the user's terminal (powershell.exe -NoExit -File guest-shell.ps1 ...). The
# administrator's password is read from the lab's secret file, never given on a command line.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$UserName,
  [Parameter(Mandatory = $true)][string]$PasswordFile
)
$ErrorActionPreference = 'Stop'

$password = Get-Content -LiteralPath $PasswordFile -Raw
$secure = ConvertTo-SecureString -String $password.TrimEnd("`r", "`n") -AsPlainText -Force
$password = $null
$credential = New-Object System.Management.Automation.PSCredential -ArgumentList $UserName, $secure
Write-Host "labctl: PowerShell Direct to $VMName as $UserName ('exit' to leave)"
Enter-PSSession -VMName $VMName -Credential $credential
