#!/bin/sh
# Firewall of the Redis VM: SSH and Redis only from the lab subnet.
# usage: ufw.sh SUBNET REDIS_PORT
set -eu
subnet=$1
port=$2
command -v ufw >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw
ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing
ufw allow from "$subnet" to any port 22 proto tcp
ufw allow from "$subnet" to any port "$port" proto tcp
ufw --force enable
ufw status verbose
