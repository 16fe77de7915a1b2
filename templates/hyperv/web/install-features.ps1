# Runs in a web VM: the IIS role services the tutorial installs (Web Server, Application
# Development, WebSocket Protocol, Management Service) and their management tools.
param(
  [Parameter(Mandatory = $true)][string[]]$Features
)
$ErrorActionPreference = 'Stop'

$result = Install-WindowsFeature -Name $Features -IncludeManagementTools
if (-not $result.Success) { throw "Install-WindowsFeature did not succeed (exit code $($result.ExitCode))" }
@{ restartNeeded = [string]$result.RestartNeeded; changed = @($result.FeatureResult | ForEach-Object { [string]$_.Name }) }
