#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages labctl's netns lab and its tests use. Idempotent:
# packages already present are left alone, and apt's package lists are fetched only
# when something is missing.
#   iproute2, nftables   network namespaces, bridges, the Redis machine's firewall
#   openssh-server       each lab machine runs its own sshd (started by labctl, not as a service)
#   build-essential, pkg-config   compiling Redis from source
#   chromium             verify --browser (driven by playwright-core; no browser download)
#   redis-server         only for the chat app's own tests on loopback (the lab builds its own)
#   haproxy              the lb role: each netns lb machine runs the host's /usr/sbin/haproxy
#   zsh                  the completion test parses (zsh -n) and runs labctl's zsh completion script
#   wine64               the Windows-Node tests: Node.js for Windows runs under it (scripts/install-windows-node.sh)
set -euo pipefail
packages=(iproute2 nftables openssh-server build-essential pkg-config procps ca-certificates chromium redis-server haproxy zsh wine64)

if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: run as root (sudo $0)" >&2
  exit 2
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all packages present"
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
# Package installs must not start system services (sshd on :22, redis on :6379, haproxy): labctl
# starts its own, inside its namespaces. policy-rc.d tells invoke-rc.d to leave them off.
created_policy=no
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=yes
fi
trap '[ "$created_policy" = yes ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
