#!/usr/bin/env bash
# The whole test suite, as CI runs it: system packages, npm dependencies, build, then every
# test (unit, chat app, Hyper-V scripts, and the netns end-to-end tests, which need root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
npm ci --no-audit --no-fund
npm test
