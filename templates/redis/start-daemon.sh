#!/bin/sh
# Starts redis-server as a daemon with a pidfile (netns machines have no init system),
# restarting it when asked. Prints the pid.
# usage: start-daemon.sh PREFIX CONF PIDFILE LOGFILE RESTART(yes|no)
set -eu
prefix=$1
conf=$2
pidfile=$3
logfile=$4
restart=$5

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if running && [ "$restart" = yes ]; then
  pid=$(cat "$pidfile")
  kill "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
fi
if ! running; then
  rm -f "$pidfile"
  mkdir -p "$(dirname "$logfile")" "$(dirname "$pidfile")"
  "$prefix/bin/redis-server" "$conf" </dev/null >/dev/null 2>&1 || {
    echo "redis-server did not start; last lines of $logfile:" >&2
    tail -n 20 "$logfile" >&2 2>/dev/null
    exit 1
  }
  i=0
  while ! running && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  running || { echo "redis-server wrote no pidfile; last lines of $logfile:" >&2; tail -n 20 "$logfile" >&2 2>/dev/null; exit 1; }
fi
cat "$pidfile"
