#!/usr/bin/env bash
# A newcomer's first command: system packages, npm dependencies, build, then `labctl up`
# on the network-namespace lab. Extra arguments go to `labctl up` (e.g. --browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund
npm run build
exec ./bin/labctl up "$@"
