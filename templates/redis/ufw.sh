#!/bin/sh
# Firewall of the Redis VM: SSH and Redis only from the lab subnet; with a Redis Cluster, its
# bus port only from the other redis machines.
# usage: ufw.sh SUBNET REDIS_PORT [BUS_PORT PEER_IP...]
set -eu
subnet=$1
port=$2
shift 2
command -v ufw >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw
ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing
ufw allow from "$subnet" to any port 22 proto tcp
ufw allow from "$subnet" to any port "$port" proto tcp
if [ $# -gt 0 ]; then
  bus=$1
  shift
  for peer in "$@"; do
    ufw allow from "$peer" to any port "$bus" proto tcp
  done
fi
ufw --force enable
ufw status verbose
