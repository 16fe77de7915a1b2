#!/bin/sh
# The machine's side of the Redis build cache (src/roles/redis/cached-build.ts): what a build
# depends on here, packing an installed build for the host to keep, and installing one the host
# kept. An install from the cache is checked file by file against the manifest made when it was
# packed, and appears under the prefix in one rename, as build.sh does; a mismatch installs nothing.
# usage:
#   build-cache.sh facts
#       prints "arch …", "compiler …" and "os-release …" lines (the machine's part of the key)
#   build-cache.sh pack PREFIX CONF_ORIG OUT_DIR
#       writes OUT_DIR/redis.tar.gz (prefix/ and redis.conf.orig) and OUT_DIR/manifest
#   build-cache.sh install ARCHIVE MANIFEST WORK_DIR PREFIX CONF_ORIG LOG MARKER_JSON
# exit codes: 3 the unpacked files differ from the manifest, 4 not a valid archive, 5 nothing to pack
set -eu

# One line per file, sorted, the same wherever it runs: sha256 and mode of a regular file, the
# target of a symbolic link (make install links redis-check-aof and others to redis-server), and
# anything else by its type, so an extra or swapped entry shows up as a difference too.
manifest() {
  find . ! -type d | LC_ALL=C sort | while IFS= read -r f; do
    if [ -L "$f" ]; then printf 'link %s %s\n' "$(readlink "$f")" "$f"
    elif [ -f "$f" ]; then printf '%s %s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(stat -c %a "$f")" "$f"
    else printf 'other %s\n' "$f"
    fi
  done
}

action=$1
shift
case "$action" in
facts)
  echo "arch $(uname -m)"
  # the first line names the compiler and its version ("cc (Debian 12.2.0-14) 12.2.0")
  echo "compiler $( (cc --version 2>/dev/null || true) | head -n 1)"
  [ ! -r /etc/os-release ] || sed 's/^/os-release /' /etc/os-release
  ;;

pack)
  prefix=$1
  conf_orig=$2
  out=$3
  [ -x "$prefix/bin/redis-server" ] || { echo "no build under $prefix to pack" >&2; exit 5; }
  rm -rf "$out"
  mkdir -p "$out/stage"
  cp -a "$prefix" "$out/stage/prefix"
  # the marker says how this machine got its build; an install from the cache writes its own
  rm -f "$out/stage/prefix/.labctl-build.json"
  [ ! -f "$conf_orig" ] || cp "$conf_orig" "$out/stage/redis.conf.orig"
  (cd "$out/stage" && manifest) >"$out/manifest"
  tar -czf "$out/redis.tar.gz" -C "$out/stage" .
  rm -rf "$out/stage"
  ;;

install)
  archive=$1
  expected=$2
  work=$3
  prefix=$4
  conf_orig=$5
  log=$6
  marker=$7
  mkdir -p "$work" "$(dirname "$log")" "$(dirname "$prefix")" "$(dirname "$conf_orig")"
  unpack="$work/cache-unpack"
  rm -rf "$unpack"
  mkdir -p "$unpack"
  echo "labctl: installing from the build cache ($archive), nothing compiled" >"$log"
  if ! tar -xzf "$archive" -C "$unpack" 2>"$work/tar.err"; then
    why=$(tail -n 1 "$work/tar.err")
    rm -rf "$unpack" "$archive" "$expected" "$work/tar.err"
    echo "labctl: the cached archive does not unpack: $why" >>"$log"
    echo "the cached archive does not unpack: $why" >&2
    exit 4
  fi
  rm -f "$work/tar.err"
  (cd "$unpack" && manifest) >"$work/manifest.here"
  if ! cmp -s "$expected" "$work/manifest.here"; then
    first=$(diff "$expected" "$work/manifest.here" | grep '^[<>]' | head -n 2 | tr '\n' ' ')
    rm -rf "$unpack" "$archive" "$expected" "$work/manifest.here"
    echo "labctl: the unpacked files differ from the cache's manifest: $first" >>"$log"
    echo "the unpacked files differ from the cache's manifest: $first" >&2
    exit 3
  fi
  [ -x "$unpack/prefix/bin/redis-server" ] || { rm -rf "$unpack" "$archive" "$expected" "$work/manifest.here"; echo "the cached archive holds no prefix/bin/redis-server" >&2; exit 3; }
  rm -rf "$prefix.new"
  mv "$unpack/prefix" "$prefix.new"
  [ -f "$conf_orig" ] || [ ! -f "$unpack/redis.conf.orig" ] || cp "$unpack/redis.conf.orig" "$conf_orig"
  printf '%s\n' "$marker" >"$prefix.new/.labctl-build.json"
  rm -rf "$prefix.old"
  [ ! -d "$prefix" ] || mv "$prefix" "$prefix.old"
  mv "$prefix.new" "$prefix"
  rm -rf "$prefix.old" "$unpack" "$archive" "$expected" "$work/manifest.here"
  echo "labctl: installed under $prefix" >>"$log"
  echo "labctl: installed under $prefix from the build cache"
  ;;

*)
  echo "build-cache.sh: unknown action $action" >&2
  exit 2
  ;;
esac
