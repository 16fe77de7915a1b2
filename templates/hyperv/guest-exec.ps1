# Runs one command line in a Windows VM over PowerShell Direct (labctl ssh web1 -- CMD) and
# returns what it printed and its exit code: $LASTEXITCODE of a program, 1 when a PowerShell
# command failed, else 0. The command travels as data (-ArgumentList) and is parsed in the
# guest; nothing of it is spliced into the host's own command.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$UserName,
  [Parameter(Mandatory = $true)][string]$Password,
  [Parameter(Mandatory = $true)][string]$Command,
  [string]$InputText = ''
)
$ErrorActionPreference = 'Stop'

$secure = ConvertTo-SecureString -String $Password -AsPlainText -Force
$credential = New-Object System.Management.Automation.PSCredential -ArgumentList $UserName, $secure
Invoke-Command -VMName $VMName -Credential $credential -ArgumentList $Command, $InputText -ScriptBlock {
  param($Line, $Text)
  $global:LASTEXITCODE = 0
  $failed = $false
  $block = [scriptblock]::Create($Line)
  # every stream as text, in order, as a console would show it
  $output = try {
    if ($Text) { $Text | & $block 2>&1 | Out-String -Width 4096 } else { & $block 2>&1 | Out-String -Width 4096 }
  } catch {
    $failed = $true
    ($_ | Out-String -Width 4096)
  }
  $code = [int]$LASTEXITCODE
  if ($code -eq 0 -and ($failed -or -not $?)) { $code = 1 }
  @{ output = [string]$output; exitCode = $code }
}
