#!/usr/bin/env bash
# ensure-tools.sh -- install what scripts/swarm/cluster-up.sh needs when it is missing (as
# scripts/ensure-engine.sh does for docker.io): docker-registry, bc, iproute2, util-linux, curl.
set -euo pipefail
say() { echo "swarm/ensure-tools: $*" >&2; }
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v bc >/dev/null 2>&1 || missing+=(bc)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nsenter >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ "${#missing[@]}" -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { say "need root to install ${missing[*]}"; exit 1; }
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || { say "apt-get update failed"; exit 1; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { say "apt-get install ${missing[*]} failed"; exit 1; }
