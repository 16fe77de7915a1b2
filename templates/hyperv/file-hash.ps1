# The sha256 of a file on the host (the Ubuntu ISO: part of the golden disk's key), with its
# size and time. Reading a 3 GB ISO takes a few seconds; it is done once per lab.
param(
  [Parameter(Mandatory = $true)][string]$Path
)
$ErrorActionPreference = 'Stop'
if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { throw "no such file: $Path" }
$item = Get-Item -LiteralPath $Path
@{
  sha256 = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
  size = [long]$item.Length
  lastWrite = $item.LastWriteTimeUtc.ToString('o')
}
