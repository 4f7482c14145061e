#!/usr/bin/env bash
# Set up, make sure a Docker engine answers, then reconcile the example apps. The first run
# prints each started app's URL; a run with nothing to do prints nothing and changes nothing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh
bash scripts/ensure-engine.sh

exec .venv/bin/ace reconcile -f examples/apps.star "$@"
