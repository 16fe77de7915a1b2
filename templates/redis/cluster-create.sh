#!/bin/sh
# Forms the lab's Redis Cluster from its nodes (run on the first node), then waits until every
# node reports cluster_state:ok. The password is read from the node's file into REDISCLI_AUTH
# (Redis's documented way), never put on a command line.
# usage: cluster-create.sh REDIS_CLI PASSWORD_FILE REPLICAS WAIT_SECONDS IP:PORT...
# exit: 0 formed and ok; 3 redis-cli --cluster create failed; 4 not ok within WAIT_SECONDS
set -eu
cli=$1
passfile=$2
replicas=$3
wait=$4
shift 4
REDISCLI_AUTH=$(cat "$passfile")
export REDISCLI_AUTH
# the first nodes in the list become the masters: with one address per node redis-cli keeps
# the list's order (it interleaves hosts only to keep a master and its replica apart)
if ! "$cli" --cluster create "$@" --cluster-replicas "$replicas" --cluster-yes; then
  echo "redis-cli --cluster create failed" >&2
  exit 3
fi
end=$(( $(date +%s) + wait ))
for node in "$@"; do
  host=${node%:*}
  port=${node##*:}
  while :; do
    state=$("$cli" -h "$host" -p "$port" cluster info 2>&1 | tr -d '\r' | sed -n 's/^cluster_state://p')
    [ "$state" = ok ] && break
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "$node: cluster_state ${state:-unknown} after ${wait}s" >&2
      exit 4
    fi
    sleep 0.2
  done
done
echo "cluster ok on $# nodes"
