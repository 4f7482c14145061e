#!/usr/bin/env bash
# cluster-down.sh -- remove everything cluster-up.sh made: processes by pid, namespaces and links
# by their exact names, mounts and data below $SWARM_BASE.
set -uo pipefail
BASE=${SWARM_BASE:-/tmp/ace-swarm/run}
P=${SWARM_PFX:-sp}
SW=$P-sw
N=$(cat "$BASE/N" 2>/dev/null || echo 0)

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop_pid() {  # pid [seconds]
  local p=$1 t=${2:-20}; alive "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 1 $((t*4))); do alive "$p" || return 0; sleep 0.25; done
  kill -KILL "$p" 2>/dev/null; sleep 0.5
}
# 1. the dockerds (they stop their containers and containerd), in parallel
sp=()
for k in $(seq 1 "$N"); do stop_pid "$(cat "$BASE/n$k/docker.pid" 2>/dev/null)" 20 & sp+=($!); done
[ "${#sp[@]}" -gt 0 ] && wait "${sp[@]}"
# 2. what is left under our exec-roots (containerd, shims), by pid
for k in $(seq 1 "$N"); do
  for p in $(pgrep -f -- "$BASE/n$k/exec/" 2>/dev/null); do stop_pid "$p" 5; done
done
# 3. processes still inside our namespaces (containers of a killed node)
for ns in $(seq -f "$P-n%g" 1 "$N") "$SW"; do
  [ -e "/run/netns/$ns" ] || continue
  for p in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$p" 5; done
done
# 4. the registry
stop_pid "$(cat "$BASE/registry/pid" 2>/dev/null)" 5
# 5. mounts below BASE, deepest first
grep -F " $BASE/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
# 6. namespaces and links
for k in $(seq 1 "$N"); do ip netns del "$P-n$k" 2>/dev/null; done
ip netns del "$SW" 2>/dev/null
ip link del "$P-host" 2>/dev/null
# 7. our cgroups (now empty; cgroup v1 and v2 layouts)
for k in $(seq 1 "$N"); do
  for c in /sys/fs/cgroup/*/"$P-n$k" /sys/fs/cgroup/"$P-n$k"; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
done
rm -rf "$BASE"
true
