#!/bin/sh
# Builds Redis from a source tarball and installs it under a prefix. Nothing is left
# half-done: a bad tarball is deleted, a failed build leaves the previous install (if
# any) in place, and the new install appears under the prefix in one rename. A build
# that was interrupted is continued where it stopped (see below).
# usage: build.sh SOURCE SHA256 WORK_DIR PREFIX LOG CONF_ORIG MARKER_JSON
#   SOURCE is a tarball path on this machine, or an http(s) URL to download here.
# exit codes: 3 sha256 mismatch, 4 not a valid tarball, 5 make failed, 6 install failed, 7 no download tool
set -eu
source=$1
sha256=$2
work=$3
prefix=$4
log=$5
conf_orig=$6
marker=$7

mkdir -p "$work" "$(dirname "$log")" "$(dirname "$prefix")" "$(dirname "$conf_orig")"
tarball="$work/source.tar.gz"
case "$source" in
  http://*|https://*)
    echo "labctl: downloading $source"
    if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o "$tarball.partial" "$source" || exit 7
    elif command -v wget >/dev/null 2>&1; then wget -q -O "$tarball.partial" "$source" || exit 7
    else echo "neither curl nor wget is installed" >&2; exit 7
    fi
    mv "$tarball.partial" "$tarball" ;;
  *) [ "$source" = "$tarball" ] || cp "$source" "$tarball" ;;
esac

actual=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$actual" != "$sha256" ]; then
  rm -f "$tarball"
  echo "sha256 mismatch: expected $sha256, got $actual; the tarball was deleted" >&2
  exit 3
fi

build="$work/build"
# the sha256 of the source a build tree was extracted from, written once extraction is done
stamp="$build/.labctl-source.sha256"
jobs=$(nproc 2>/dev/null || echo 2)

extract() {
  rm -rf "$build"
  mkdir -p "$build"
  if ! tar -xzf "$tarball" -C "$build" --strip-components=1 2>"$work/tar.err"; then
    why=$(tail -n 1 "$work/tar.err")
    rm -rf "$build" "$tarball" "$work/tar.err"
    echo "not a valid source tarball: $why" >&2
    exit 4
  fi
  rm -f "$work/tar.err"
  [ -f "$build/Makefile" ] && [ -f "$build/redis.conf" ] || { rm -rf "$build" "$tarball"; echo "the tarball holds no Redis source tree (no Makefile or redis.conf)" >&2; exit 4; }
  printf '%s\n' "$sha256" >"$stamp"
}

# make, with its output shown (tee) and kept in the log; returns make's exit code, which a
# pipe would lose (the status file keeps it)
run_make() {
  rm -f "$work/make.status"
  { make -C "$build" -j"$jobs" 2>&1; echo $? >"$work/make.status"; } | tee -a "$log"
  [ "$(cat "$work/make.status" 2>/dev/null)" = 0 ]
}

# A build interrupted (labctl stopped by Ctrl-C: make is sent SIGTERM and deletes the file it
# was writing) left its tree: the same source, past Redis's dependencies (src/.make-prerequisites
# is made once deps/ is built), is built on from where it stopped. Anything else, and a
# continued build that fails, starts over from a fresh tree.
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha256" ] && [ -f "$build/src/.make-prerequisites" ]; then
  echo "labctl: continuing the interrupted build in $build (make -j$jobs)" | tee "$log"
  if ! run_make; then
    echo "labctl: the continued build failed; building again from a fresh tree" | tee -a "$log"
    extract
    run_make || { rm -rf "$build" "$tarball" "$work/make.status"; echo "make failed" >&2; exit 5; }
  fi
else
  extract
  echo "labctl: make -j$jobs in $build" >"$log"
  run_make || { rm -rf "$build" "$tarball" "$work/make.status"; echo "make failed" >&2; exit 5; }
fi

rm -rf "$prefix.new"
if ! make -C "$build" PREFIX="$prefix.new" install >>"$log" 2>&1; then
  rm -rf "$prefix.new"
  echo "make install failed" >&2
  exit 6
fi
[ -f "$conf_orig" ] || cp "$build/redis.conf" "$conf_orig"
printf '%s\n' "$marker" >"$prefix.new/.labctl-build.json"
rm -rf "$prefix.old"
[ ! -d "$prefix" ] || mv "$prefix" "$prefix.old"
mv "$prefix.new" "$prefix"
rm -rf "$prefix.old" "$build" "$tarball" "$work/make.status"
echo "labctl: installed under $prefix"
