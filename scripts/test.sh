#!/usr/bin/env bash
# The whole test suite, as CI runs it: system packages, npm dependencies, PowerShell 7 (a .NET
# tool, for the Hyper-V scripts against the simulated host), build, then every test (unit,
# chat app, Hyper-V scripts under real PowerShell, and the netns end-to-end tests, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund
bash scripts/install-windows-node.sh
bash scripts/install-pwsh.sh
npm test
