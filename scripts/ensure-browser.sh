#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver are installed: the dashboard's browser tests
# drive them (headless) through selenium. Idempotent; installing needs root. Nothing is
# downloaded at test time: the browser and its driver come from the distribution's packages.
set -euo pipefail

say() { echo "ensure-browser: $*" >&2; }
die() { say "$*"; exit 1; }
have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

have && exit 0
[ "$(id -u)" -eq 0 ] || die "need root to install chromium and chromium-driver"
say "installing chromium chromium-driver"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
    || die "apt-get install chromium chromium-driver failed"
have || die "chromium or chromedriver still missing after the install"
