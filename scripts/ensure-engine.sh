#!/usr/bin/env bash
# Make sure a Docker engine answers and has busybox:latest. Idempotent; run as root.
#
# - If `docker info` answers: nothing to start.
# - Else: install docker.io and busybox-static with apt-get when missing, start dockerd in the
#   background (log: $ACE_DOCKERD_LOG, default /tmp/ace-dockerd.log) and wait up to
#   $ACE_ENGINE_WAIT seconds (default 30) for it.
# - Then, when busybox:latest is not local: `docker pull busybox` (short timeout), and if that
#   fails build it from the static busybox binary (FROM scratch).
#
# DOCKER_HOST (unix://...) is honoured: dockerd then listens there. Extra dockerd flags come from
# $ACE_DOCKERD_ARGS (e.g. a separate --data-root/--exec-root/--pidfile for an isolated engine).
# An isolated engine beside the main one needs a bridge of its own (--bridge=NAME of an existing
# bridge interface, plus --iptables=false): with --bridge=none, dockerd DELETES docker0, which
# breaks networking for the main engine's containers. The script refuses that combination.
set -euo pipefail

log_file="${ACE_DOCKERD_LOG:-/tmp/ace-dockerd.log}"
wait_s="${ACE_ENGINE_WAIT:-30}"

say() { echo "ensure-engine: $*" >&2; }
die() { say "$*"; exit 1; }
answers() { docker info >/dev/null 2>&1; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

start_dockerd() {
    [ "$(id -u)" -eq 0 ] || die "no Docker engine answers, and starting one needs root"
    local args=()
    case "${DOCKER_HOST:-}" in
        unix://*) args+=(-H "$DOCKER_HOST") ;;
        "") ;;
        *) die "no engine answers at DOCKER_HOST=$DOCKER_HOST and it is not a local socket" ;;
    esac
    # shellcheck disable=SC2206  # word splitting of the extra flags is intended
    args+=(${ACE_DOCKERD_ARGS:-})
    if [[ " ${args[*]} " =~ [[:space:]](--bridge[=[:space:]]|-b[[:space:]])none[[:space:]] ]] \
        && [ -e /sys/class/net/docker0 ]; then
        die "refusing to start dockerd with --bridge=none: it would delete docker0, which another" \
            "engine uses; give the isolated engine its own bridge (--bridge=NAME)"
    fi
    say "starting dockerd ${args[*]} (log: $log_file)"
    setsid nohup dockerd "${args[@]}" >>"$log_file" 2>&1 </dev/null &
    local deadline=$((SECONDS + wait_s))
    until answers; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 20 "$log_file" >&2 || true
            die "dockerd did not answer within ${wait_s}s"
        fi
        sleep 0.5
    done
}

static_busybox() {
    local p
    for p in /bin/busybox /usr/bin/busybox $(dpkg -L busybox-static 2>/dev/null | grep '/busybox$'); do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}

ensure_busybox() {
    docker image inspect busybox:latest >/dev/null 2>&1 && return 0
    if timeout 20 docker pull -q busybox:latest >/dev/null 2>&1; then
        say "pulled busybox:latest"
        return 0
    fi
    install_packages
    local bin ctx
    bin="$(static_busybox)" || die "no static busybox binary found (package busybox-static)"
    ctx="$(mktemp -d)"
    cp "$bin" "$ctx/busybox"
    printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
        'RUN ["/bin/busybox","--install","-s","/bin"]' 'CMD ["sh"]' >"$ctx/Containerfile"
    # The classic builder: a newer CLI without the buildx plugin cannot use BuildKit.
    local rc=0
    DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Containerfile" -t busybox:latest "$ctx" \
        >/dev/null 2>"$ctx.err" || rc=$?
    rm -rf "$ctx"
    if [ "$rc" -ne 0 ]; then
        cat "$ctx.err" >&2; rm -f "$ctx.err"
        die "building busybox:latest from $bin failed"
    fi
    rm -f "$ctx.err"
    say "built busybox:latest from $bin"
}

if ! answers; then
    install_packages
    answers || start_dockerd
fi
ensure_busybox
