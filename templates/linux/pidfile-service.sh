#!/bin/sh
# Runs a program as a daemon with a pidfile, for machines without an init system (netns):
# starts it when it is not running, restarts it when asked. Prints the pid.
# usage: pidfile-service.sh PIDFILE LOGFILE RESTART(yes|no) DETACH(yes|no) WORKDIR ENVFILE COMMAND [ARG...]
#   DETACH=yes: labctl puts COMMAND in the background and writes its pid (the chat app);
#   DETACH=no: COMMAND daemonizes itself and writes PIDFILE (redis-server with daemonize yes).
#   ENVFILE: "-" for none; otherwise sourced (set -a) before COMMAND runs.
set -eu
pidfile=$1
logfile=$2
restart=$3
detach=$4
workdir=$5
envfile=$6
shift 6

# alive and not a zombie: a killed daemon stays a zombie until init reaps it, and kill -0
# succeeds on a zombie (see pid-alive.sh)
running() {
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != Z ]
}
fail() {
  echo "$1; last lines of $logfile:" >&2
  tail -n 20 "$logfile" >&2 2>/dev/null || true
  exit 1
}

if running && [ "$restart" = yes ]; then
  pid=$(cat "$pidfile")
  kill "$pid"
  i=0
  while running && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
fi
if ! running; then
  rm -f "$pidfile"
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  cd "$workdir"
  if [ "$envfile" != - ]; then
    set -a
    . "$envfile"
    set +a
  fi
  if [ "$detach" = yes ]; then
    setsid "$@" >>"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    sleep 0.1
  else
    "$@" </dev/null >/dev/null 2>&1 || fail "$1 did not start"
  fi
  i=0
  while ! running && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  running || fail "$1 is not running"
fi
cat "$pidfile"
