#!/bin/sh
# Downloads a distribution source package with a private apt configuration: its own
# source list, package lists and cache, so the machine's apt setup is left untouched.
# Prints "<orig tarball path> <sha256>" on its last line.
# usage: fetch-distro-source.sh APT_DIR SOURCE_DIR PACKAGE
set -eu
apt_dir=$1
src_dir=$2
package=$3

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src_dir"
opts="-q -o Dir::Etc::SourceList=$apt_dir/sources.list -o Dir::Etc::SourceParts=/nonexistent
 -o Dir::State::Lists=$apt_dir/lists -o Dir::Cache=$apt_dir/cache -o APT::Sandbox::User=$(id -un)"

# shellcheck disable=SC2086
apt-get $opts update >"$apt_dir/update.log" 2>&1 || { tail -n 20 "$apt_dir/update.log" >&2; exit 1; }
cd "$src_dir"
# shellcheck disable=SC2086
apt-get $opts source --download-only "$package" >"$apt_dir/source.log" 2>&1 || { tail -n 20 "$apt_dir/source.log" >&2; exit 1; }

# the newest .dsc names the version apt chose; its .orig tarball is upstream's source
dsc=$(ls -t "$src_dir"/"$package"_*.dsc | head -n 1)
upstream=$(basename "$dsc" .dsc | sed -e "s/^${package}_//" -e 's/^[0-9]*://' -e 's/-[^-]*$//')
orig="$src_dir/${package}_${upstream}.orig.tar.gz"
[ -f "$orig" ] || { echo "no ${package}_${upstream}.orig.tar.gz next to $dsc" >&2; exit 1; }
echo "$orig $(sha256sum "$orig" | cut -d' ' -f1) $(basename "$dsc" .dsc)"
