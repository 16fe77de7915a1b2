#!/bin/sh
# Runs Redis as the systemd service labctl-redis under its own "redis" user, and
# (re)starts it. The unit file is uploaded beforehand to UNIT_SOURCE.
# usage: install-service.sh UNIT_SOURCE DATA_DIR LOG_DIR CONF RESTART(yes|no)
set -eu
unit_source=$1
data_dir=$2
log_dir=$3
conf=$4
restart=$5

id redis >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin redis
mkdir -p "$data_dir" "$log_dir"
chown redis:redis "$data_dir" "$log_dir"
chown root:redis "$conf"
chmod 0640 "$conf"
install -m 0644 "$unit_source" /etc/systemd/system/labctl-redis.service
systemctl daemon-reload
systemctl enable labctl-redis >/dev/null 2>&1
if [ "$restart" = yes ]; then systemctl restart labctl-redis; else systemctl start labctl-redis; fi
systemctl is-active labctl-redis
