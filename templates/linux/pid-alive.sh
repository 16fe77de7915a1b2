#!/bin/sh
# Exit 0 when the process named by a pidfile is running. A killed daemon stays a zombie
# until init reaps it (a container's init may take its time), and `kill -0` succeeds on a
# zombie: its state in /proc says Z.
# usage: pid-alive.sh PIDFILE
pid=$(cat "$1" 2>/dev/null) || exit 1
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || exit 1
state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
[ -n "$state" ] && [ "$state" != Z ]
