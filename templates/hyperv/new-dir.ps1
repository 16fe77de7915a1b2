# Creates the lab's folder under vmPath (its VM folders and disks go inside).
param(
  [Parameter(Mandatory = $true)][string]$Path
)
$ErrorActionPreference = 'Stop'

$created = $false
if (-not (Test-Path -LiteralPath $Path -PathType Container)) {
  New-Item -ItemType Directory -Path $Path -Force | Out-Null
  $created = $true
}
@{ path = $Path; created = $created }
