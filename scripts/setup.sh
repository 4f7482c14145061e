#!/usr/bin/env bash
# Create the repo's virtualenv (.venv) if missing and install the project with its dev extras.
# Quiet on success; pip's own output is shown only when the install fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi

# The install is editable: only a changed pyproject.toml needs pip again.
stamp=.venv/.ace-pyproject.sha256
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x .venv/bin/ace ] && .venv/bin/python -c 'import docker, pytest' 2>/dev/null; then
    exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[dev]' >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: pip install -e '.[dev]' failed" >&2
    exit 1
fi
echo "$want" >"$stamp"
