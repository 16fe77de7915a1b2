# Whether the cached Windows base disk exists and was built from this ISO and image index
# (labctl writes <base>.json beside it). A check; changes nothing.
param(
  [Parameter(Mandatory = $true)][string]$Path,
  [Parameter(Mandatory = $true)][string]$IsoPath,
  [Parameter(Mandatory = $true)][int]$ImageIndex
)
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { return @{ exists = $false; matches = $false } }
$note = "$Path.json"
if (-not (Test-Path -LiteralPath $note -PathType Leaf)) { return @{ exists = $true; matches = $false; reason = "$note is missing" } }
$recorded = Get-Content -LiteralPath $note -Raw | ConvertFrom-Json
$iso = Get-Item -LiteralPath $IsoPath -ErrorAction SilentlyContinue
if ($null -eq $iso) { return @{ exists = $true; matches = $true; reason = 'the ISO is gone; the cached base is used as it is' } }
$same = ([long]$recorded.isoLength -eq [long]$iso.Length) -and ([string]$recorded.isoLastWriteUtc -eq $iso.LastWriteTimeUtc.ToString('o')) -and ([int]$recorded.imageIndex -eq $ImageIndex)
$why = ''
if (-not $same) { $why = "it was built from an ISO of $($recorded.isoLength) bytes dated $($recorded.isoLastWriteUtc), index $($recorded.imageIndex)" }
@{ exists = $true; matches = $same; reason = $why }
