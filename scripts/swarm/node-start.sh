#!/usr/bin/env bash
# node-start.sh K -- (re)start node K's dockerd in its network namespace (cluster-up.sh uses it;
# a node whose dockerd was killed comes back with its data-root and rejoins the swarm by itself).
# `nsenter --net`, not `ip netns exec`: the latter remounts /sys and hides /sys/fs/cgroup from
# dockerd. `unshare --uts` gives each node its own hostname, as `docker node ls` shows.
set -euo pipefail
k=$1
BASE=${SWARM_BASE:-/tmp/ace-swarm/run}; P=${SWARM_PFX:-sp}; d=$BASE/n$k
nsenter --net=/run/netns/"$P-n$k" setsid unshare --uts sh -c \
  "hostname $P-n$k && exec dockerd --config-file $d/daemon.json --data-root $d/data \
     --exec-root $d/exec --pidfile $d/docker.pid -H unix://$BASE/n$k.sock" \
  >>"$d/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 1 120); do docker -H "unix://$BASE/n$k.sock" version >/dev/null 2>&1 && exit 0; sleep 0.5; done
echo "node $k: dockerd did not come up, see $d/dockerd.log" >&2; exit 1
