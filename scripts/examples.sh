#!/usr/bin/env bash
# Set up, make sure a Docker engine answers, then reconcile the example apps and show status.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh
bash scripts/ensure-engine.sh

.venv/bin/ace reconcile -f examples/apps.star "$@"
.venv/bin/ace status -f examples/apps.star
