#!/usr/bin/env bash
# Set up the venv, make sure a Docker engine and Podman's service answer (the Podman service
# this script starts, it stops at the end) and a headless browser is installed (the dashboard's
# browser tests), lint and type-check, run the whole test suite. Extra arguments go to pytest.
# Exit code: 1 when ruff or mypy find a problem, else pytest's, except that "no tests ran" (5)
# fails too.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo" || exit 1

bash scripts/setup.sh || exit 1
bash scripts/ensure-engine.sh || exit 1
bash scripts/clear-leftovers.sh  # CI only: ranges earlier runs on this machine left taken
bash scripts/swarm/ensure-tools.sh || exit 1  # the swarm tests start their own clusters
podman_started="$(bash scripts/ensure-podman.sh)"
podman_rc=$?
if [ -n "$podman_started" ]; then
    trap 'bash scripts/ensure-podman.sh --stop' EXIT
fi
[ "$podman_rc" -eq 0 ] || exit 1
bash scripts/ensure-browser.sh || exit 1

.venv/bin/ruff check --quiet . || { echo "test.sh: ruff found problems" >&2; exit 1; }
.venv/bin/mypy --no-error-summary apps state reconciler tests || {
    echo "test.sh: mypy found problems" >&2
    exit 1
}

.venv/bin/python -m pytest -q tests "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no tests: that is a failure" >&2
fi
exit "$rc"
