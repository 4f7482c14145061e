#!/usr/bin/env bash
# Give back the address ranges that earlier test runs on this machine may have left taken, so
# that the engine can make networks again. CI only (CI=true), or when ACE_CLEAR_LEFTOVERS=1:
# on a dev box these may be yours. Run as root, with the engine answering.
#
# - ace's networks that no container uses (label dev.ace.managed), on the engine and on
#   Podman: ace makes them again when an app needs one.
# - bridge interfaces named br-<id> that the engine does not know and that no interface is
#   attached to: a dockerd that was stopped (a test's private engine) leaves its networks'
#   bridges behind, and each one holds an address range the engine will not hand out again.
set -uo pipefail

say() { echo "clear-leftovers: $*" >&2; }

if [ "${CI:-}" != "true" ] && [ "${ACE_CLEAR_LEFTOVERS:-}" != "1" ]; then
    exit 0
fi

pruned="$(docker network prune -f --filter label=dev.ace.managed=1 2>/dev/null \
    | grep -c '^ace-' || true)"
[ "${pruned:-0}" -gt 0 ] && say "removed $pruned unused ace network(s)"

if command -v podman >/dev/null 2>&1; then  # Podman's own range pool: the same leftovers
    pruned="$(podman network prune -f --filter label=dev.ace.managed=1 2>/dev/null \
        | grep -c '^ace-' || true)"
    [ "${pruned:-0}" -gt 0 ] && say "removed $pruned unused ace network(s) of Podman"
fi

known="$(docker network ls -q --no-trunc 2>/dev/null | cut -c1-12)"
removed=0
for dev in /sys/class/net/br-*; do
    [ -e "$dev" ] || continue
    name="$(basename "$dev")"
    id="${name#br-}"
    grep -qx "$id" <<<"$known" && continue
    [ -n "$(ls -A "$dev/brif" 2>/dev/null)" ] && continue
    ip link del "$name" 2>/dev/null && removed=$((removed + 1))
done
[ "$removed" -gt 0 ] && say "removed $removed bridge interface(s) no engine owns"
exit 0
