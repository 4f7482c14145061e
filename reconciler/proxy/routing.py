"""The routing table: public path prefixes of every app's `ace.proxy` routes (and of each static
app's files), and where each app's container currently answers.

An app at `/web` with `ace.proxy("/api", ...)` owns the public prefix `/web/api`; the longest
prefix (in segments) wins; an app at `/` with route `/` catches everything else. Entries are
immutable and rebuilt after every pass; the per-app `Slot` (current container, last error) is
mutable and lives across rebuilds, so a switch to a new container is one assignment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from apps.model import App, Route
from reconciler.core.types import (
    DesiredState,
    ObservedContainer,
    ObservedState,
    current_container,
)
from reconciler.proxy.paths import NormPath, join_prefix, prefix_segments
from reconciler.proxy.static import StaticSite

__all__ = ["CONTAINER_URL", "STATIC_URL", "Backend", "Entry", "Match", "Slot", "Table",
           "build_entries", "container_backends"]

CONTAINER_URL = "<CONTAINER_URL>"
DOWN_FOR = 5.0  # seconds a cluster task that refused a connection gets no requests
STATIC_URL = "<STATIC>"  # the route of a static app's entry: its files, served by the proxy


class Backend:
    """One upstream origin (scheme, host, port, base path). `inflight` counts requests and
    websockets using it; it is only touched on the proxy's event loop.

    `direct` is a container's own (ip, port) on its network: the pool connects there first,
    skipping the engine's userland port forwarder (a process and a second connection per
    request), and falls back to the published (host, port) when that network is unreachable
    from here (an engine in a VM, rootless mode)."""

    __slots__ = ("base_path", "direct", "host", "inflight", "members", "port", "scheme")

    def __init__(self, scheme: str, host: str, port: int, base_path: str = "",
                 direct: tuple[str, int] | None = None,
                 members: tuple[Backend, ...] = ()) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.base_path = base_path.rstrip("/")
        self.direct = direct if scheme == "http" else None
        self.inflight = 0
        # a cluster app: one backend per running task (node address + host-mode port); the
        # slot spreads requests over them. Empty for one container or an external upstream.
        self.members = members

    @classmethod
    def group(cls, scheme: str, addresses: Sequence[str]) -> Backend | None:
        """The backend of a cluster app's tasks at `addresses` ("ip:port" each)."""
        members = tuple(cls(scheme, host, port) for host, port in
                        (a for a in map(_split, addresses) if a is not None))
        if not members:
            return None
        return cls(scheme, members[0].host, members[0].port, members=members)

    @classmethod
    def from_url(cls, url: str, direct: str = "") -> Backend:
        """A backend for `url`; `direct` is the container's "ip:port" or ""."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported upstream URL {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path, _split(direct))

    @property
    def netloc(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.base_path}"

    def same(self, other: Backend | None) -> bool:
        return other is not None and (
            self.scheme, self.host, self.port, self.base_path, self.direct) == (
            other.scheme, other.host, other.port, other.base_path, other.direct) and (
            [m.netloc for m in self.members] == [m.netloc for m in other.members])

    def __repr__(self) -> str:
        return f"Backend({self.url}, inflight={self.inflight})"


@dataclass(frozen=True, slots=True)
class Entry:
    app: str  # app path
    name: str  # app name (for error pages)
    prefix: str  # public prefix, e.g. "/web/api"
    segs: tuple[str, ...]
    route: Route
    app_segs: tuple[str, ...]
    external: Backend | None = None  # None: the app's container
    redirect_bare_path: bool = False  # the app asked for it (ace.app(redirect_bare_path=True))
    static: StaticSite | None = None  # a static app: the proxy serves its files itself

    @property
    def redirect_bare(self) -> bool:
        """`/web` answers with a redirect to `/web/` when the app asks for it (for its own root
        route); otherwise `/web` is served as the app's root."""
        return self.redirect_bare_path and bool(self.segs) and self.route.path.strip("/") == ""


@dataclass
class Slot:
    """An app's live state: the container (or a cluster app's tasks) that gets new requests,
    and its last error. Tasks that refused a connection sit out `DOWN_FOR` seconds. While
    `hold` is set (a dev container restarting in place) new requests wait for it. An app
    `asleep` (idle, or not started yet) is woken by a request, which waits on `woken` with the
    ones that come meanwhile until the loop's pass started it (or could not)."""

    app: str
    backend: Backend | None = None
    hold: asyncio.Event | None = None
    error: str = ""
    state: str = ""  # why no container serves, when none does ("its container ... is paused")
    asleep: bool = False
    woken: asyncio.Event | None = None
    turn: int = 0
    down: dict[str, float] = field(default_factory=dict)  # task netloc -> monotonic until

    def pick(self, exclude: Sequence[Backend] = ()) -> Backend | None:
        """The backend for the next request: one container, or the next task in turn that is
        not sitting out (any task when all are)."""
        b = self.backend
        if b is None or not b.members:
            return None if b is not None and b in exclude else b
        now = time.monotonic()
        left = [m for m in b.members if m not in exclude]
        up = [m for m in left if self.down.get(m.netloc, 0.0) <= now] or left
        if not up:
            return None
        self.turn += 1
        return up[self.turn % len(up)]

    def sit_out(self, b: Backend) -> None:
        self.down[b.netloc] = time.monotonic() + DOWN_FOR


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    upstream_path: str  # path (and query) the upstream sees, without the backend base path
    stripped: str  # the public prefix removed from the path ("" when none): X-Forwarded-Prefix


class Table:
    """Entries sorted most specific first."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = tuple(sorted(entries, key=lambda e: (-len(e.segs), -len(e.app_segs),
                                                            e.prefix)))

    def find(self, path: NormPath) -> Entry | None:
        for e in self.entries:
            if path.starts_with(e.segs):
                return e
        return None

    def resolve(self, entry: Entry, path: NormPath) -> Match:
        """Apply strip_app and strip_path to a path that `find` matched to `entry`."""
        r = entry.route
        n = len(entry.app_segs) if r.strip_app else 0
        strip = prefix_segments(r.strip_path)
        if strip and path.decoded[n:n + len(strip)] == strip:
            n += len(strip)
        stripped = "/" + "/".join(path.raw[:n]) if n else ""
        return Match(entry, path.tail(n) + path.query, stripped)


def build_entries(apps: Sequence[App]) -> list[Entry]:
    """Entries for every route of every app, and one for the app path of each static app (after
    its routes: a route at the same prefix wins). An external upstream URL that does not parse
    gives no entry for that route (the app's other routes still work)."""
    out: list[Entry] = []
    for a in apps:
        for r in a.routes:
            external = None
            if r.url != CONTAINER_URL:
                try:
                    external = Backend.from_url(r.url)
                except ValueError:
                    continue
            prefix = join_prefix(a.path, r.path)
            out.append(Entry(a.path, a.name, prefix, prefix_segments(prefix), r,
                             prefix_segments(a.path), external, a.redirect_bare_path))
        if a.static_only:
            segs = prefix_segments(a.path)
            out.append(Entry(a.path, a.name, join_prefix(a.path, "/"), segs,
                             Route("/", STATIC_URL), segs, static=StaticSite.of(a, len(segs))))
    return out


def container_backends(desired: DesiredState, observed: ObservedState
                       ) -> dict[str, tuple[Backend | None, str]]:
    """app -> (backend of its serving container, container id) for each service app: the newest
    running container of the desired version, else the newest running one of any version (an
    old version keeps serving while a new one builds). An app with no running container gets
    (None, what its newest container is doing: "paused", "exited: Exited (3) ...", or "")."""
    out: dict[str, tuple[Backend | None, str]] = {}
    by_app: dict[str, list[ObservedContainer]] = {}
    for c in observed.containers:
        by_app.setdefault(c.app, []).append(c)
    for a in desired.apps:
        if not a.service:
            continue
        mine = by_app.get(a.path, [])
        best = current_container([c for c in mine if c.state == "running"
                                  and (c.host_port or c.running_tasks)], a.path, a.version)
        if best is None:
            out[a.path] = (None, _not_running(mine))
            continue
        if best.replicas:
            out[a.path] = (Backend.group(a.scheme, [t.address for t in best.running_tasks]),
                           best.id)
            continue
        out[a.path] = (Backend(a.scheme, "127.0.0.1", best.host_port or 0,
                               direct=_split(best.address)), best.id)
    return out


def _not_running(containers: list[ObservedContainer]) -> str:
    """What the newest of an app's containers (none of them serving) is doing, for its page."""
    if not containers:
        return ""
    c = max(containers, key=lambda c: c.created)
    if c.replicas:
        return f"its service {c.name} has no task running ({c.status})"
    if c.state == "running":
        return "its container publishes no port"
    detail = f": {c.status}" if c.status and c.status.lower() != c.state else ""
    return f"its container {c.name} is {c.state}{detail}"


def _split(address: str) -> tuple[str, int] | None:
    """("ip", port) of an "ip:port" address; None for "" or anything malformed."""
    host, sep, port = address.rpartition(":")
    return (host, int(port)) if sep and host and port.isdigit() else None
