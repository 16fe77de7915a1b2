# Whether a file or folder exists, and its size and time (a check; changes nothing).
param(
  [Parameter(Mandatory = $true)][string]$Path
)
$ErrorActionPreference = 'Stop'

$item = Get-Item -LiteralPath $Path -Force -ErrorAction SilentlyContinue
if ($null -eq $item) { return @{ exists = $false } }
@{
  exists       = $true
  folder       = [bool]$item.PSIsContainer
  length       = $(if ($item.PSIsContainer) { 0 } else { [long]$item.Length })
  lastWriteUtc = $item.LastWriteTimeUtc.ToString('o')
}
