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
# msiexec does not create the folder of its /L*v log: without it, it exits 1622 before installing
$logFolder = Split-Path -Path $LogPath -Parent
if (-not (Test-Path -LiteralPath $logFolder -PathType Container)) { New-Item -ItemType Directory -Path $logFolder -Force | Out-Null }
$arguments = @('/i', ('"{0}"' -f $MsiPath), '/qn', '/norestart', '/L*v', ('"{0}"' -f $LogPath)) + $Properties
$process = Start-Process -FilePath 'msiexec.exe' -ArgumentList $arguments -Wait -PassThru
if (@(0, 3010, 1641) -notcontains $process.ExitCode) {
  # the common Windows Installer codes, by name (learn.microsoft.com: MsiExec.exe and InstMsi.exe Error Messages)
  $meaning = @{
    1603 = 'a fatal error occurred during installation'
    1618 = 'another installation is already in progress'
    1619 = 'the package could not be opened'
    1620 = 'the package is not a valid Windows Installer package'
    1622 = 'the log file could not be opened'
    1625 = 'the installation is forbidden by system policy'
    1638 = 'another version of this product is already installed'
    1639 = 'invalid command line'
  }[[int]$process.ExitCode]
  $tail = ''
  if (Test-Path -LiteralPath $LogPath) { $tail = (Get-Content -LiteralPath $LogPath -Tail 15) -join ' | ' }
  throw "msiexec $MsiPath exited with $($process.ExitCode)$(if ($meaning) { " ($meaning)" }); log $LogPath`: $tail"
}
if (-not (Test-Path -LiteralPath $CheckPath)) { throw "msiexec succeeded but $CheckPath is missing" }
@{ installed = $true; exitCode = $process.ExitCode; restartNeeded = ($process.ExitCode -ne 0) }
