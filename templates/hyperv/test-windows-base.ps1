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
# compared as times: PowerShell 7's ConvertFrom-Json turns the ISO 8601 text into a DateTime
# (whose [string] is culture-formatted and loses the fraction), Windows PowerShell 5.1 leaves it text
$recordedTime = $recorded.isoLastWriteUtc
if ($recordedTime -isnot [DateTime]) { $recordedTime = [DateTime]::Parse([string]$recordedTime, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind) }
$same = ([long]$recorded.isoLength -eq [long]$iso.Length) -and ($recordedTime.ToUniversalTime() -eq $iso.LastWriteTimeUtc) -and ([int]$recorded.imageIndex -eq $ImageIndex)
$why = ''
if (-not $same) { $why = "it was built from an ISO of $($recorded.isoLength) bytes dated $($recorded.isoLastWriteUtc), index $($recorded.imageIndex)" }
@{ exists = $true; matches = $same; reason = $why }
