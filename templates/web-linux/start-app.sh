#!/bin/sh
# Runs the bundled chat app as a daemon with a pidfile (netns machines have no init
# system), restarting it when asked. Settings come from an environment file; the Redis
# password stays in its own file, named there, never on a command line.
# usage: start-app.sh NODE APP_DIR ENV_FILE PIDFILE LOGFILE RESTART(yes|no)
set -eu
node=$1
app_dir=$2
env_file=$3
pidfile=$4
logfile=$5
restart=$6

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
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  cd "$app_dir"
  set -a
  . "$env_file"
  set +a
  setsid "$node" server.cjs >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  sleep 0.1
  running || { echo "the app exited at once; last lines of $logfile:" >&2; tail -n 20 "$logfile" >&2; exit 1; }
fi
cat "$pidfile"
