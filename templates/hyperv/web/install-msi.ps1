# Runs in a web VM: installs an MSI silently (it was copied in beforehand) unless CheckPath
# shows it is there already. Exit codes 0, 3010 and 1641 mean installed; the log stays.
param(
  [Parameter(Mandatory = $true)][string]$MsiPath,
  [Parameter(Mandatory = $true)][string]$CheckPath,
  [Parameter(Mandatory = $true)][string]$LogPath,
  [string[]]$Properties = @()
)
$ErrorActionPreference = 'Stop'

if (Test-Path -LiteralPath $CheckPath) { return @{ installed = $false; already = $true } }
if (-not (Test-Path -LiteralPath $MsiPath -PathType Leaf)) { throw "no such file: $MsiPath" }
$arguments = @('/i', ('"{0}"' -f $MsiPath), '/qn', '/norestart', '/L*v', ('"{0}"' -f $LogPath)) + $Properties
$process = Start-Process -FilePath 'msiexec.exe' -ArgumentList $arguments -Wait -PassThru
if (@(0, 3010, 1641) -notcontains $process.ExitCode) {
  $tail = ''
  if (Test-Path -LiteralPath $LogPath) { $tail = (Get-Content -LiteralPath $LogPath -Tail 15) -join ' | ' }
  throw "msiexec $MsiPath exited with $($process.ExitCode); log $LogPath`: $tail"
}
if (-not (Test-Path -LiteralPath $CheckPath)) { throw "msiexec succeeded but $CheckPath is missing" }
@{ installed = $true; exitCode = $process.ExitCode; restartNeeded = ($process.ExitCode -ne 0) }
