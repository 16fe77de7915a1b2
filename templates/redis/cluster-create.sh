#!/bin/sh
# Forms the lab's Redis Cluster from its nodes (run on the first node): the first MASTERS nodes
# become the masters (redis-cli --cluster create), then each further node is added as a replica
# of master (i mod MASTERS), in order, so which replica serves which master is the spec's order
# and not redis-cli's choice. Then waits until every node says cluster_state:ok, knows all the
# others and every replica as one, and every replica's link to its master is up. The password is
# read from the node's file into REDISCLI_AUTH (Redis's documented way), never put on a command line.
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

# a run cut short (Ctrl-C, a lost SSH link), or a start of a stopped cluster, is resumed: masters
# that already hold every slot are not created again (redis-cli refuses a node that is not empty),
# replicas already in the cluster are not added again
first=${masters# }
first=${first%% *}
if [ "$(ask "$first" cluster info | sed -n 's/^cluster_slots_assigned://p')" = 16384 ]; then
  echo "the masters already hold all 16384 slots"
# shellcheck disable=SC2086 # ip:port words, no spaces
elif ! "$cli" --cluster create $masters --cluster-replicas 0 --cluster-yes; then
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
  known=$(ask "$replica" cluster info | sed -n 's/^cluster_known_nodes://p')
  if [ "$known" = 1 ]; then
    if ! "$cli" --cluster add-node "$replica" "$master" --cluster-slave --cluster-master-id "$id"; then
      echo "redis-cli --cluster add-node $replica as a replica of $master failed" >&2
      exit 3
    fi
  elif ask "$replica" cluster nodes | awk '$3 ~ /myself/ && $3 ~ /master/ && NF == 8 { found = 1 } END { exit !found }'; then
    # it met the cluster but its CLUSTER REPLICATE was cut off (a master without slots); the
    # master's id reaches it by gossip
    until_known=$(( $(date +%s) + wait ))
    until ask "$replica" cluster nodes | grep -q "^$id "; do
      [ "$(date +%s)" -lt "$until_known" ] || { echo "$replica: its master $id is still unknown to it after ${wait}s" >&2; exit 4; }
      sleep 0.2
    done
    [ "$(ask "$replica" cluster replicate "$id")" = OK ] || { echo "$replica: CLUSTER REPLICATE $id refused" >&2; exit 3; }
  else
    # following its master, or its master's master since a failover: the shard is whole
    echo "$replica is in the cluster already"
  fi
  i=$((i + 1))
done

end=$(( $(date +%s) + wait ))
for node in "$@"; do
  while :; do
    info=$(ask "$node" cluster info)
    state=$(echo "$info" | sed -n 's/^cluster_state://p')
    known=$(echo "$info" | sed -n 's/^cluster_known_nodes://p')
    # a replica (whichever nodes are replicas now, after any failover) with its link up
    link=up
    if ask "$node" info replication | grep -q '^role:slave'; then
      link=$(ask "$node" info replication | sed -n 's/^master_link_status://p')
    fi
    # and it has heard (by gossip) of as many replicas as there are
    seen=$(ask "$node" cluster nodes | awk '$3 ~ /slave/' | wc -l | tr -d ' ')
    [ "$state" = ok ] && [ "$known" = "$total" ] && [ "$link" = up ] && [ "$seen" = "$((total - mcount))" ] && break
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "$node: cluster_state ${state:-unknown}, ${known:-?} of $total nodes known, $seen of $((total - mcount)) replicas seen, link to its master ${link:-unknown} after ${wait}s" >&2
      exit 4
    fi
    sleep 0.2
  done
done
echo "cluster formed: $mcount masters, $((total - mcount)) replicas"
