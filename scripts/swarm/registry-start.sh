#!/usr/bin/env bash
# registry-start.sh -- (re)start the cluster's registry in the switch namespace (cluster-up.sh
# uses it; the fault tests stop it by its pid and bring it back with this).
set -euo pipefail
BASE=${SWARM_BASE:-/tmp/ace-swarm/run}; P=${SWARM_PFX:-sp}
nsenter --net=/run/netns/"$P-sw" setsid docker-registry serve "$BASE/registry/config.yml" \
  >>"$BASE/registry/log" 2>&1 </dev/null &
echo $! > "$BASE/registry/pid"
