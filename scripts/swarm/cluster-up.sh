#!/usr/bin/env bash
# cluster-up.sh [N] -- an N-node Docker Swarm on this one Linux host, for ace's swarm tests and
# benchmark. Each node is a dockerd in its own network namespace; a private bridge joins them; a
# local registry (Debian's docker-registry) answers at $NET.1:5000. Needs root, iproute2,
# nsenter/unshare (util-linux), bc, docker.io and docker-registry (scripts/swarm/ensure-tools.sh).
#
# Topology (nothing is added to the host firewall; the default engine is only read from):
#   netns $P-sw : bridge br0 = $NET.1/24, the registry on $NET.1:5000
#   netns $P-nK : eth0 = $NET.(10+K)/24, dockerd K with its own containerd, socket $BASE/nK.sock
#   host        : veth $P-host = $NET.254/24, so processes here reach node IPs and the registry
# Node 1 is the manager. No default route in the node namespaces: nothing leaves the /24, and
# lookups of remote registries fail at once instead of timing out.
#
# Env: SWARM_BASE (state dir, default /tmp/ace-swarm/run), SWARM_NET (first three octets, default
# 10.213.0), SWARM_PFX (name prefix of netns and links, default sp), SWARM_SEED (engine to copy
# busybox:latest from, default the local engine).
set -euo pipefail
N=${1:-3}
BASE=${SWARM_BASE:-/tmp/ace-swarm/run}
NET=${SWARM_NET:-10.213.0}
P=${SWARM_PFX:-sp}
SEED=${SWARM_SEED:-unix:///var/run/docker.sock}
SW=$P-sw
REG=$NET.1:5000
here=$(cd "$(dirname "$0")" && pwd)
T0=$(date +%s.%N)
ts() { printf '[%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*"; }

[ -e "$BASE/N" ] && { echo "cluster already up ($BASE/N exists); run cluster-down.sh first" >&2; exit 1; }
mkdir -p "$BASE"
echo "$N" > "$BASE/N"
printf 'NET=%s\nP=%s\n' "$NET" "$P" > "$BASE/env"

# -- the switch namespace, its bridge and the host's link to it
ip netns add "$SW"
ip -n "$SW" link set lo up
ip -n "$SW" link add br0 type bridge
ip -n "$SW" addr add "$NET.1/24" dev br0
ip -n "$SW" link set br0 up
ip link add "$P-host" type veth peer name host netns "$SW"
ip -n "$SW" link set host master br0 up
ip addr add "$NET.254/24" dev "$P-host"
ip link set "$P-host" up
ts "switch netns $SW up"

# -- the registry, inside the switch namespace (apt does not start it: no systemd here)
mkdir -p "$BASE/registry/data"
cat > "$BASE/registry/config.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $BASE/registry/data}
  delete: {enabled: true}
http:
  addr: $REG
YML
"$here/registry-start.sh"

# -- the nodes
pids=()
for k in $(seq 1 "$N"); do
  ns=$P-n$k; d=$BASE/n$k; ip=$NET.$((10+k))
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$SW" link add "n$k" type veth peer name eth0 netns "$ns"
  ip -n "$SW" link set "n$k" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  mkdir -p "$d"
  # its own daemon.json (/etc/docker/daemon.json is never read), key (else every node has the
  # same engine id) and cgroup parent
  cat > "$d/daemon.json" <<JSON
{
  "deprecated-key-path": "$d/key.json",
  "insecure-registries": ["$REG"],
  "cgroup-parent": "/$P-n$k",
  "storage-driver": "overlay2",
  "log-level": "warn",
  "shutdown-timeout": 5
}
JSON
  "$here/node-start.sh" "$k" &
  pids+=($!)
done
dk() { local k=$1; shift; docker -H "unix://$BASE/n$k.sock" "$@"; }
# never a bare `wait`: dockerd and the registry are children of this shell too
for p in "${pids[@]}"; do wait "$p" || { echo "a node failed to start" >&2; exit 1; }; done
ts "$N dockerd up"
for _ in $(seq 1 40); do
  curl -fsS -m 2 "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.25
done
curl -fsS -m 2 "http://$REG/v2/" >/dev/null || { echo "registry did not answer at $REG" >&2; exit 1; }
ts "registry up at $REG"

# busybox is the base image of the tests: copied from the seed engine, loaded on every node
tar=$BASE/busybox.tar
docker -H "$SEED" save busybox:latest -o "$tar"
lp=(); for k in $(seq 1 "$N"); do dk "$k" load -q -i "$tar" >/dev/null & lp+=($!); done
wait "${lp[@]}"
ts "busybox loaded on all nodes"

# -- the swarm
dk 1 swarm init --advertise-addr "$NET.11" --listen-addr "$NET.11:2377" >/dev/null
WT=$(dk 1 swarm join-token -q worker)
for k in $(seq 2 "$N"); do
  dk "$k" swarm join --token "$WT" --advertise-addr "$NET.$((10+k))" \
     --listen-addr "$NET.$((10+k)):2377" "$NET.11:2377" >/dev/null
done
r=0
for _ in $(seq 1 120); do
  r=$(dk 1 node ls --format '{{.Status}}' | grep -c '^Ready$' || true)
  [ "$r" -eq "$N" ] && break; sleep 0.5
done
ts "swarm: $r/$N nodes Ready"
[ "$r" -eq "$N" ] || { echo "only $r of $N nodes are Ready" >&2; exit 1; }
echo "export DOCKER_HOST=unix://$BASE/n1.sock ACE_REGISTRY=$REG"
