# Runs one of labctl's guest scripts (templates/hyperv/web/*.ps1) inside a Windows VM over
# PowerShell Direct, with named parameters. With CopyFrom, first copies that host file or
# folder to CopyTo in the guest, in the same session. The guest script's text and its
# parameters travel as data (-ArgumentList), never spliced into a command.
param(
  [Parameter(Mandatory = $true)][string]$VMName,
  [Parameter(Mandatory = $true)][string]$UserName,
  [Parameter(Mandatory = $true)][string]$Password,
  [Parameter(Mandatory = $true)][string]$GuestScript,
  [hashtable]$Parameters = @{},
  [string]$CopyFrom = '',
  [string]$CopyTo = ''
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $GuestScript -PathType Leaf)) { throw "no such guest script: $GuestScript" }
$secure = ConvertTo-SecureString -String $Password -AsPlainText -Force
$credential = New-Object System.Management.Automation.PSCredential -ArgumentList $UserName, $secure
$session = $null
try {
  $session = New-PSSession -VMName $VMName -Credential $credential
  if ($CopyFrom) {
    if (-not $CopyTo) { throw 'CopyFrom needs CopyTo' }
    Invoke-Command -Session $session -ArgumentList $CopyTo -ScriptBlock {
      param($Target)
      $parent = Split-Path -Path $Target -Parent
      if (-not (Test-Path -LiteralPath $parent)) { New-Item -ItemType Directory -Path $parent -Force | Out-Null }
      if (Test-Path -LiteralPath $Target) { Remove-Item -LiteralPath $Target -Recurse -Force }
    }
    Copy-Item -LiteralPath $CopyFrom -Destination $CopyTo -ToSession $session -Recurse -Force
  }
  $text = Get-Content -LiteralPath $GuestScript -Raw
  Invoke-Command -Session $session -ArgumentList $text, $Parameters -ScriptBlock {
    param($Text, $Named)
    $ErrorActionPreference = 'Stop'
    $ProgressPreference = 'SilentlyContinue'
    $block = [scriptblock]::Create($Text)
    & $block @Named
  }
} catch {
  # name the VM and the guest script: the message alone (an msiexec code, a feature name) does not say where
  throw ('{0} on {1}: {2}' -f (Split-Path -Path $GuestScript -Leaf), $VMName, $_.Exception.Message)
} finally {
  if ($null -ne $session) { Remove-PSSession -Session $session }
}
