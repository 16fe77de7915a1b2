# Where Web Deploy's command line is on this host, if it is installed: labctl publishes the chat
# app with it. Web Deploy 3.x installs it as %ProgramFiles%\IIS\Microsoft Web Deploy V3\msdeploy.exe
# (iis-docs microsoft-web-deploy-v3-readme.md; the "msdeploy.exe.config" path of
# web-deploy-error-codes.md). Changes nothing.
param(
  [string]$RelativePath = 'IIS\Microsoft Web Deploy V3\msdeploy.exe'
)
$ErrorActionPreference = 'Stop'

# (joined as text: the path is shown to the user as Windows writes it)
$path = $env:ProgramFiles.TrimEnd('\') + '\' + $RelativePath
@{ path = $path; found = [bool](Test-Path -LiteralPath $path -PathType Leaf) }
