# Runs one command line in a Windows VM over PowerShell Direct (labctl ssh web1 -- CMD) and
# returns what it printed and its exit code: `exit N` or $LASTEXITCODE of a program, 1 when
# a PowerShell command wrote an error, else 0. The command travels as data (-ArgumentList)
# and is parsed in the guest; nothing of it is spliced into the host's own command.
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
  # run as a script file: `exit 3` then ends that script with 3 (in a script block it would
  # end the whole remote session and return nothing)
  $folder = $env:TEMP
  if (-not $folder) { $folder = 'C:\Windows\Temp' }
  $file = Join-Path -Path $folder -ChildPath ('labctl-exec-{0}.ps1' -f [guid]::NewGuid().ToString('N'))
  Set-Content -LiteralPath $file -Value $Line -Encoding UTF8
  $global:LASTEXITCODE = 0
  $errorsBefore = $Error.Count
  $failed = $false
  try {
    # every stream as text, in order, as a console would show it
    $output = if ($Text) { $Text | & $file 2>&1 | Out-String -Width 4096 } else { & $file 2>&1 | Out-String -Width 4096 }
  } catch {
    $failed = $true
    $output = ($_ | Out-String -Width 4096)
  } finally {
    Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue
  }
  $code = [int]$LASTEXITCODE
  if ($code -eq 0 -and ($failed -or $Error.Count -gt $errorsBefore)) { $code = 1 }
  @{ output = [string]$output; exitCode = $code }
}
