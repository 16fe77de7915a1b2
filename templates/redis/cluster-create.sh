#!/bin/sh
# Forms the lab's Redis Cluster from its nodes (run on the first node): the first MASTERS nodes
# become the masters (redis-cli --cluster create), then each further node is added as a replica
# of master (i mod MASTERS), in order, so which replica serves which master is the spec's order
# and not redis-cli's choice. Then waits until every node says cluster_state:ok and knows all the
# others, and every replica's link to its master is up. The password is read from the node's
# file into REDISCLI_AUTH (Redis's documented way), never put on a command line.
# usage: cluster-create.sh REDIS_CLI PASSWORD_FILE MASTERS WAIT_SECONDS IP:PORT...
# exit: 0 formed; 3 redis-cli --cluster create or add-node failed; 4 not agreed within WAIT_SECONDS
set -eu
cli=$1
passfile=$2
mcount=$3
wait=$4
shift 4
REDISCLI_AUTH=$(cat "$passfile")
export REDISCLI_AUTH
total=$#
masters=""
replicas=""
i=0
for node in "$@"; do
  if [ "$i" -lt "$mcount" ]; then masters="$masters $node"; else replicas="$replicas $node"; fi
  i=$((i + 1))
done
ask() { # ask IP:PORT COMMAND... : a node's answer, without carriage returns
  n=$1
  shift
  "$cli" -h "${n%:*}" -p "${n##*:}" "$@" 2>&1 | tr -d '\r'
}

# shellcheck disable=SC2086 # ip:port words, no spaces
if ! "$cli" --cluster create $masters --cluster-replicas 0 --cluster-yes; then
  echo "redis-cli --cluster create failed" >&2
  exit 3
fi
i=0
for replica in $replicas; do
  # the (i mod MASTERS)-th master
  j=0
  for m in $masters; do
    [ "$j" -eq $((i % mcount)) ] && master=$m
    j=$((j + 1))
  done
  id=$(ask "$master" cluster myid)
  if ! "$cli" --cluster add-node "$replica" "$master" --cluster-slave --cluster-master-id "$id"; then
    echo "redis-cli --cluster add-node $replica as a replica of $master failed" >&2
    exit 3
  fi
  i=$((i + 1))
done

end=$(( $(date +%s) + wait ))
for node in "$@"; do
  while :; do
    info=$(ask "$node" cluster info)
    state=$(echo "$info" | sed -n 's/^cluster_state://p')
    known=$(echo "$info" | sed -n 's/^cluster_known_nodes://p')
    link=up
    case " $replicas " in
      *" $node "*) link=$(ask "$node" info replication | sed -n 's/^master_link_status://p') ;;
    esac
    [ "$state" = ok ] && [ "$known" = "$total" ] && [ "$link" = up ] && break
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "$node: cluster_state ${state:-unknown}, ${known:-?} of $total nodes known, link to its master ${link:-unknown} after ${wait}s" >&2
      exit 4
    fi
    sleep 0.2
  done
done
echo "cluster formed: $mcount masters, $((total - mcount)) replicas"
