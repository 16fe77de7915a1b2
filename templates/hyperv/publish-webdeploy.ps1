# Publishes a folder to an IIS site of a web VM with Web Deploy, from this host, as the tutorial
# does from Visual Studio: msdeploy.exe syncs the folder to the site through the VM's Web
# Management Service (https://<address>:8172/msdeploy.axd), as the site's non-administrator
# publishing user. Address, site, user and password come from the .publishsettings file (the
# ecosystem's own form, the one Visual Studio imports): the credentials are never on a command
# line. What the site keeps that the app does not ship (iisnode's log folder) is skipped, so the
# sync does not delete it. -useChecksum compares files by content (a fresh staging folder has new
# timestamps: without it every file would be sent again).
#
# msdeploy.exe is started with Start-Process and one command line: msdeploy reads its own
# command line (-dest:contentPath="...",publishSettings="..."), which PowerShell's argument
# quoting of a direct call mangles. Its output goes to files read back afterwards; a non-zero
# exit code fails with the end of what msdeploy printed (its Error Code and More Information).
param(
  [Parameter(Mandatory = $true)][string]$SourcePath,
  [Parameter(Mandatory = $true)][string]$SiteName,
  [Parameter(Mandatory = $true)][string]$PublishSettingsPath,
  [string[]]$SkipFolders = @('iisnode')
)
$ErrorActionPreference = 'Stop'

$msdeploy = $env:ProgramFiles.TrimEnd('\') + '\IIS\Microsoft Web Deploy V3\msdeploy.exe'
if (-not (Test-Path -LiteralPath $msdeploy -PathType Leaf)) { throw "Web Deploy is not installed on this host: there is no $msdeploy" }
if (-not (Test-Path -LiteralPath $SourcePath -PathType Container)) { throw "no such folder: $SourcePath" }
if (-not (Test-Path -LiteralPath $PublishSettingsPath -PathType Leaf)) { throw "no such file: $PublishSettingsPath" }
foreach ($value in @($SourcePath, $SiteName, $PublishSettingsPath)) {
  # a double quote would end msdeploy's quoted value early (Windows paths and site names have none)
  if ($value.Contains('"')) { throw "cannot pass a value with a double quote to msdeploy.exe: $value" }
}

$arguments = @(
  '-verb:sync'
  ('-source:contentPath="{0}"' -f $SourcePath)
  ('-dest:contentPath="{0}",publishSettings="{1}"' -f $SiteName, $PublishSettingsPath)
  '-allowUntrusted'
  '-useChecksum'
)
foreach ($folder in $SkipFolders) { $arguments += ('-skip:objectName=dirPath,absolutePath="\\{0}$"' -f [regex]::Escape($folder)) }
$commandLine = $arguments -join ' '

$out = [System.IO.Path]::GetTempFileName()
$err = [System.IO.Path]::GetTempFileName()
try {
  $process = Start-Process -FilePath $msdeploy -ArgumentList $commandLine -Wait -PassThru -NoNewWindow -RedirectStandardOutput $out -RedirectStandardError $err
  $printed = @(Get-Content -LiteralPath $out) + @(Get-Content -LiteralPath $err) | Where-Object { $_ -ne '' }
  if ($process.ExitCode -ne 0) {
    $tail = @($printed | Select-Object -Last 8) -join ' | '
    throw "msdeploy.exe exited with $($process.ExitCode) publishing to $SiteName`: $tail"
  }
  $summary = [string](@($printed | Where-Object { $_ -match '^Total changes:' }) | Select-Object -Last 1)
  @{ exitCode = $process.ExitCode; summary = $summary; commandLine = $commandLine; changes = @($printed | Where-Object { $_ -match '^Info: (Adding|Updating|Deleting) ' }) }
} finally {
  Remove-Item -LiteralPath $out, $err -Force -ErrorAction SilentlyContinue
}
