#!/usr/bin/env bash
# Make sure Podman's Docker-compatible services (rootful, and a rootless user's) answer and have
# busybox:latest. Run as root.
#
#   bash scripts/ensure-podman.sh          # install, start (when they do not answer), seed
#   bash scripts/ensure-podman.sh --stop   # stop the services this script started, if any
#
# Prints `started` on stdout when it started a service (so a caller knows to stop it), else
# nothing; messages go to stderr.
#
# - Installs what is missing of Debian's podman (4.x), catatonit (its --init),
#   netavark/aardvark-dns (networks), and uidmap, slirp4netns, fuse-overlayfs (rootless).
# - When nothing answers at $ACE_PODMAN_HOST (default unix:///run/podman/podman.sock), starts
#   `podman system service --time=0` there in the background (log: $ACE_PODMAN_LOG, default
#   /tmp/ace-podman.log) and records its pid in $ACE_PODMAN_PIDFILE (default
#   /run/podman/ace-service.pid), which `--stop` uses: a service it did not start is never
#   stopped.
# - Seeds docker.io/library/busybox:latest (what `podman pull busybox` makes) into Podman's
#   storage: from the Docker engine when it has busybox:latest (`docker save | podman load`),
#   else pulled (short timeout), else built from the static busybox binary.
# - Rootless: the same for the user $ACE_PODMAN_ROOTLESS_USER (default ace-rootless, created
#   when missing, with subordinate ids): that user's own service at
#   unix:///run/user/UID/podman/podman.sock (pid in ace-rootless.pid beside the other), busybox
#   copied from the rootful storage. Rootless networking (slirp4netns) opens /dev/net/tun,
#   which this machine leaves root-only (no udev; distributions make it 0666): the script
#   opens it to everyone when others cannot use it.
#
# Settings this machine needs, in the service's containers.conf ($ACE_PODMAN_CONF, default
# /run/podman/ace-containers.conf, passed as CONTAINERS_CONF; measured with podman 4.3.1):
# - cgroup_manager cgroupfs: no systemd runs as PID 1 (podman's default is systemd);
# - events_logger file: there is no journald;
# - network_backend netavark: installed here, where the CNI plugins are not (the package
#   ships a CNI config all the same);
# - overlay storage works as is (podman picks it; nothing to set);
# - default_ulimits, only without CAP_SYS_RESOURCE (containers, sandboxes): rootful podman
#   gives every container nofile and nproc limits of 1048576, above this process's hard limits,
#   and runc may not raise them ("error setting rlimits ... operation not permitted"). The
#   service's own hard limits are read once it runs, written here, and the service restarted.
set -euo pipefail

url="${ACE_PODMAN_HOST:-unix:///run/podman/podman.sock}"
rootless_user="${ACE_PODMAN_ROOTLESS_USER:-ace-rootless}"
log_file="${ACE_PODMAN_LOG:-/tmp/ace-podman.log}"
pid_file="${ACE_PODMAN_PIDFILE:-/run/podman/ace-service.pid}"
conf="${ACE_PODMAN_CONF:-/run/podman/ace-containers.conf}"
wait_s="${ACE_ENGINE_WAIT:-30}"
busybox="docker.io/library/busybox:latest"

say() { echo "ensure-podman: $*" >&2; }
die() { say "$*"; exit 1; }
answers() { podman --remote --url "$url" version >/dev/null 2>&1; }

rootless_pid_file="$(dirname "$pid_file")/ace-rootless.pid"

stop_service() {  # $1: the pid file
    local file="${1:-$pid_file}" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    rm -f "$file"
    # The service leads its own process group (setsid); a rootless one re-executes itself
    # inside the user's namespace as a child, so the whole group is stopped.
    if kill -0 "$pid" 2>/dev/null; then
        kill -- "-$pid" 2>/dev/null || kill "$pid"
        for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
        say "stopped a podman service (pid $pid)"
    fi
}

if [ "${1:-}" = "--stop" ]; then
    stop_service "$pid_file"
    stop_service "$rootless_pid_file"
    exit 0
fi

install_packages() {
    local p missing=()
    for p in podman catatonit netavark aardvark-dns uidmap slirp4netns fuse-overlayfs; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
        "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

has_cap_sys_resource() {
    local eff
    eff="$(awk '/^CapEff:/ {print $2}' /proc/self/status)"
    (( (16#$eff >> 24) & 1 ))
}

write_conf() {  # $1: extra [containers] lines
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' '[containers]' "$1" '[engine]' 'cgroup_manager = "cgroupfs"' \
        'events_logger = "file"' '[network]' 'network_backend = "netavark"' >"$conf"
}

hard_limit() {  # $1: pid, $2: the limit's name in /proc/PID/limits
    awk -v name="$2" 'index($0, name) == 1 {print $(NF - 1)}' "/proc/$1/limits"
}

start_service() {
    [ "$(id -u)" -eq 0 ] || die "no podman service answers at $url, and starting one needs root"
    case "$url" in unix://*) ;; *) die "ACE_PODMAN_HOST=$url is not a local socket" ;; esac
    mkdir -p "$(dirname "${url#unix://}")" "$(dirname "$pid_file")"
    say "starting podman system service at $url (log: $log_file)"
    CONTAINERS_CONF="$conf" setsid nohup podman system service --time=0 "$url" \
        >>"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    local deadline=$((SECONDS + wait_s))
    until answers; do
        if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
            tail -n 20 "$log_file" >&2 || true
            die "podman system service did not answer within ${wait_s}s"
        fi
        sleep 0.2
    done
}

ensure_service() {
    answers && return 0
    write_conf ""
    start_service
    echo started
    has_cap_sys_resource && return 0
    local pid nofile nproc
    pid="$(cat "$pid_file")"
    nofile="$(hard_limit "$pid" "Max open files")"
    nproc="$(hard_limit "$pid" "Max processes")"
    say "no CAP_SYS_RESOURCE: containers get the service's limits (nofile $nofile, nproc $nproc)"
    write_conf "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    stop_service
    start_service
}

static_busybox() {
    local p
    for p in /bin/busybox /usr/bin/busybox $(dpkg -L busybox-static 2>/dev/null | grep '/busybox$'); do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}

seed_busybox() {
    # the CLI below works on the service's storage, with its settings when this script made them
    [ -f "$conf" ] && export CONTAINERS_CONF="$conf"
    podman image exists "$busybox" && return 0
    local docker_host="${DOCKER_HOST:-}"
    [ "$docker_host" = "$url" ] && docker_host=""
    if command -v docker >/dev/null 2>&1 \
        && DOCKER_HOST="$docker_host" docker image inspect busybox:latest >/dev/null 2>&1; then
        local loaded
        loaded="$(DOCKER_HOST="$docker_host" docker save busybox:latest | podman load -q \
            | sed -n 's/^Loaded image[^:]*: *//p' | head -n 1)"
        if [ -n "$loaded" ] && [ "$loaded" != "$busybox" ]; then
            podman tag "$loaded" "$busybox"
            podman untag "$busybox" "$loaded"  # docker save names it busybox:latest: localhost/
        fi
        podman image exists "$busybox" && { say "seeded $busybox from the Docker engine"; return 0; }
    fi
    if timeout 20 podman pull -q "$busybox" >/dev/null 2>&1; then
        say "pulled $busybox"
        return 0
    fi
    local bin ctx
    bin="$(static_busybox)" || die "no static busybox binary found (package busybox-static)"
    ctx="$(mktemp -d)"
    cp "$bin" "$ctx/busybox"
    printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
        'RUN ["/bin/busybox","--install","-s","/bin"]' 'CMD ["sh"]' >"$ctx/Containerfile"
    podman build -q -f "$ctx/Containerfile" -t "$busybox" "$ctx" >/dev/null \
        || { rm -rf "$ctx"; die "building $busybox from $bin failed"; }
    rm -rf "$ctx"
    say "built $busybox from $bin"
}

as_user() {  # run as the rootless user, in its own environment (exec: the same pid)
    local uid home
    uid="$(id -u "$rootless_user")"
    home="$(getent passwd "$rootless_user" | cut -d: -f6)"
    exec setpriv --reuid="$uid" --regid="$(id -g "$rootless_user")" --init-groups \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" USER="$rootless_user" \
        XDG_RUNTIME_DIR="/run/user/$uid" "$@"
}

ensure_rootless() {
    [ "$(id -u)" -eq 0 ] || return 0  # only root sets up another user
    id "$rootless_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$rootless_user"
    grep -q "^$rootless_user:" /etc/subuid || usermod --add-subuids 200000-265535 \
        --add-subgids 200000-265535 "$rootless_user"
    local uid run sock
    uid="$(id -u "$rootless_user")"
    run="/run/user/$uid"
    sock="unix://$run/podman/podman.sock"
    install -d -m 700 -o "$rootless_user" -g "$(id -g "$rootless_user")" "$run" "$run/podman"
    [ "$(stat -c %a /dev/net/tun)" = 666 ] || chmod 666 /dev/net/tun
    if ! (as_user podman --remote --url "$sock" version) >/dev/null 2>&1; then
        say "starting $rootless_user's rootless podman service at $sock"
        (as_user setsid podman system service --time=0 "$sock") >>"$log_file" 2>&1 </dev/null &
        echo $! >"$rootless_pid_file"
        echo started
        local deadline=$((SECONDS + wait_s))
        until (as_user podman --remote --url "$sock" version) >/dev/null 2>&1; do
            [ "$SECONDS" -lt "$deadline" ] || die "$rootless_user's podman service did not answer"
            sleep 0.2
        done
    fi
    (as_user podman image exists "$busybox") && return 0
    local tar
    tar="$(mktemp --suffix=.tar)"
    podman save -q -o "$tar" "$busybox" && chmod 644 "$tar"
    (as_user podman load -q -i "$tar") >/dev/null || { rm -f "$tar"; die "rootless load failed"; }
    rm -f "$tar"
    (as_user podman image exists "$busybox") || die "rootless busybox missing after load"
    say "seeded $busybox for $rootless_user"
}

install_packages
ensure_service
seed_busybox
ensure_rootless
