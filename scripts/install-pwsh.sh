#!/usr/bin/env bash
# Installs PowerShell 7 as a .NET tool into .tools/pwsh of this checkout (idempotent): the
# tests run every Hyper-V script with it, against the simulated host in test/hyperv-sim.
# Only 7.6.9 is served by the NuGet mirror these machines reach; it runs on the .NET SDK here.
set -euo pipefail
cd "$(dirname "$0")/.."
version=7.6.9
dir=.tools/pwsh
if [ -x "$dir/pwsh" ] && "$dir/pwsh" -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null | grep -qx "$version"; then
  echo "install-pwsh: PowerShell $version present ($dir/pwsh)"
  exit 0
fi
if ! command -v dotnet >/dev/null 2>&1 || ! dotnet --version >/dev/null 2>&1; then
  echo "install-pwsh: the .NET SDK is missing: install it (https://learn.microsoft.com/dotnet/core/install/linux-debian, package dotnet-sdk-8.0 or later), then run this again" >&2
  exit 2
fi
rm -rf "$dir"
dotnet tool install PowerShell --version "$version" --tool-path "$dir" >/dev/null
echo "install-pwsh: PowerShell $("$dir/pwsh" -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()') in $dir/pwsh"
