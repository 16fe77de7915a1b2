#!/bin/sh
# Runs HAProxy as a pidfile daemon (netns machines have no init system): starts it when it is
# not running; when it is and RELOAD=yes, starts a new one with the new config that takes over
# the listening socket while the old one finishes its connections (-sf), so a config change
# does not cut the WebSockets already open. Prints the pid.
# usage: haproxy-service.sh HAPROXY CONFIG PIDFILE RELOAD(yes|no)
set -eu
haproxy=$1
config=$2
pidfile=$3
reload=$4

# alive and not a zombie (see templates/linux/pid-alive.sh)
running() {
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != Z ]
}

"$haproxy" -c -q -f "$config" >&2 || { echo "haproxy -c refused $config" >&2; exit 3; }
mkdir -p "$(dirname "$pidfile")"
if running; then
  [ "$reload" = yes ] || { cat "$pidfile"; exit 0; }
  old=$(cat "$pidfile")
  "$haproxy" -D -p "$pidfile" -f "$config" -sf "$old" </dev/null >/dev/null
else
  rm -f "$pidfile"
  "$haproxy" -D -p "$pidfile" -f "$config" </dev/null >/dev/null
fi
i=0
while ! running && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
running || { echo "haproxy is not running after start" >&2; exit 1; }
cat "$pidfile"
