"""All health probing, one rule: GET scheme://127.0.0.1:PORT/PATH answers 200.

- `wait_healthy`: a freshly started container, polled (10 ms doubling to 100 ms) within a
  deadline; a container that exits fails within half a second (the executor).
- `probe_services` / `probe_health`: one probe of each app's current running container, every
  plain-HTTP target at once from one thread with non-blocking sockets (a GET, read the status
  line), so probing 100 apps costs milliseconds (`ace watch` every resync; status; drift).
  HTTPS targets go through `probe`."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.core.types import (
    DesiredState,
    ObservedContainer,
    ObservedState,
    current_container,
)

__all__ = [
    "HealthResult",
    "Probed",
    "Target",
    "probe",
    "probe_all",
    "probe_health",
    "probe_services",
    "wait_healthy",
]


@dataclass(frozen=True, slots=True)
class HealthResult:
    ok: bool
    detail: str  # "200 OK after 0.31 s", "container exited: Exited (1)", "timeout after 60 s: ..."
    attempts: int
    seconds: float


def probe(scheme: str, port: int, path: str, *, timeout: float = 2.0, host: str = "127.0.0.1"
          ) -> tuple[int, str]:
    """One GET; returns (status, reason) or (0, error text) when nothing answered. Plain HTTP
    reads just the status line, as `probe_all` does; HTTPS goes through http.client."""
    if scheme == "https":
        return _probe_https(port, path, timeout, host)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(_request(host, port, path))
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return _status(buf) if buf else (0, "connection closed")
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        s.close()


def _probe_https(port: int, path: str, timeout: float, host: str) -> tuple[int, str]:
    import http.client  # only HTTPS health checks need it
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "ace-health"})
        resp = conn.getresponse()
        resp.read(64 * 1024)
        return resp.status, f"{resp.status} {resp.reason}"
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()


def _request(host: str, port: int, path: str) -> bytes:
    return (f"GET {path or '/'} HTTP/1.0\r\nHost: {host}:{port}\r\n"
            "User-Agent: ace-health\r\nConnection: close\r\n\r\n").encode()


STOPPING = "ace is stopping: the new version was not proven healthy"
FIRST_POLL = 0.01  # most containers answer within tens of milliseconds
MAX_POLL = 0.1  # an app that takes a while answers at most this late after it is ready
EXIT_CHECK = 0.5  # seconds between asking the engine whether the container still runs


def wait_healthy(
    *,
    scheme: str,
    port: int,
    path: str,
    deadline_s: float,
    exited: Callable[[], str | None],
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    cancelled: Callable[[], bool] = lambda: False,
) -> HealthResult:
    """Poll until a 200: at once, then 10 ms later, the pause doubling up to 100 ms (an app
    ready after 1.3 s is seen then, not at the 2.55 s a doubling without a cap would wait).
    `exited()` returns a description when the container is no longer running, else None: it
    asks the engine, so it runs after the first failed attempt and then at most every half
    second. `cancelled()` true (ace is stopping) ends the wait unhealthy."""
    start = clock()
    delay = FIRST_POLL
    attempts = 0
    last = "no answer yet"
    exit_check = start  # when to ask `exited()` next
    while True:
        attempts += 1
        status, detail = probe(scheme, port, path, timeout=min(2.0, max(0.2, deadline_s)))
        now = clock()
        elapsed = now - start
        if status == 200:
            return HealthResult(True, f"200 OK after {elapsed:.2f} s", attempts, elapsed)
        last = detail
        if now >= exit_check:
            exit_check = now + EXIT_CHECK
            gone = exited()
            if gone:
                return HealthResult(False, f"container exited: {gone}", attempts, elapsed)
        if cancelled():
            return HealthResult(False, f"{STOPPING} (last answer: {last})", attempts, elapsed)
        if elapsed + delay > deadline_s:
            return HealthResult(
                False, f"not healthy after {deadline_s:g} s (last answer: {last})", attempts,
                elapsed,
            )
        sleep(delay)
        delay = min(delay * 2, MAX_POLL)

@dataclass(frozen=True, slots=True)
class Target:
    key: str
    scheme: str
    port: int
    path: str
    host: str = "127.0.0.1"  # a cluster task's node address


def _status(buf: bytes) -> tuple[int, str]:
    line = buf.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1]), " ".join(parts[1:])
    return 0, f"not HTTP: {line[:60]!r}"


def probe_all(targets: list[Target], timeout: float = 2.0) -> dict[str, tuple[int, str]]:
    """key -> (status, detail); status 0 when nothing (valid) answered within `timeout`."""
    out: dict[str, tuple[int, str]] = {}
    sel = selectors.DefaultSelector()
    pending: dict[socket.socket, tuple[Target, bytes, bytearray]] = {}
    for t in targets:
        if t.scheme != "http":
            out[t.key] = probe(t.scheme, t.port, t.path, timeout=timeout, host=t.host)
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((t.host, t.port))
        pending[s] = (t, _request(t.host, t.port, t.path), bytearray())
        sel.register(s, selectors.EVENT_WRITE)
    end = time.monotonic() + timeout
    try:
        while pending and (left := end - time.monotonic()) > 0:
            for key, mask in sel.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                s = sock
                t, req, buf = pending[s]
                try:
                    if mask & selectors.EVENT_WRITE:
                        s.send(req)
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(4096)
                except OSError as exc:
                    out[t.key] = (0, f"{type(exc).__name__}: {exc}")
                    chunk = b""
                buf += chunk
                if b"\r\n" in buf or not chunk:
                    out.setdefault(t.key, _status(bytes(buf)) if buf else (0, "connection closed"))
                    sel.unregister(s)
                    s.close()
                    del pending[s]
        for t, _, _ in pending.values():
            out[t.key] = (0, f"timed out after {timeout:g} s")
    finally:
        for s in list(pending):
            sel.unregister(s)
            s.close()
        sel.close()
    return out


@dataclass(frozen=True, slots=True)
class Probed:
    """One probe of an app's current running container (of every running task of a cluster
    service: healthy only when all answer)."""

    container: str  # id
    version: str
    ok: bool
    detail: str
    tasks: tuple[tuple[str, bool, str], ...] = ()  # (task id, ok, detail) of a service's tasks


def _targets(path: str, scheme: str, health: str, c: ObservedContainer
             ) -> list[tuple[str, Target]]:
    """(task id or "", target) for each probe of an app's serving container or tasks."""
    if c.replicas:
        out = []
        for t in c.running_tasks:
            host, _, port = t.address.rpartition(":")
            out.append((t.id, Target(f"{path}#{t.id}", scheme, int(port), health, host)))
        return out
    if c.host_port:
        return [("", Target(path, scheme, c.host_port, health))]
    return []


_Found = tuple[str, ObservedContainer, list[tuple[str, Target]]]


def _service_targets(desired: DesiredState, observed: ObservedState) -> list[_Found]:
    """(app path, container, its targets) for each service whose current container (or
    cluster service) runs with a port (or reachable tasks)."""
    found: list[_Found] = []
    for app in desired.apps:
        c = current_container(observed.containers, app.path, app.version)
        if app.service and c is not None and c.state == "running":
            targets = _targets(app.path, app.scheme, app.health, c)
            if targets:
                found.append((app.path, c, targets))
    return found


def _probed(found: list[_Found], timeout: float) -> dict[str, Probed]:
    answers = probe_all([t for _, _, ts in found for _, t in ts], timeout=timeout)
    out: dict[str, Probed] = {}
    for path, c, targets in found:
        tasks = tuple((tid, answers[t.key][0] == 200, answers[t.key][1]) for tid, t in targets)
        bad = [(tid, detail) for tid, ok, detail in tasks if not ok]
        if not c.replicas:
            out[path] = Probed(c.id, c.version, not bad, answers[path][1])
            continue
        nodes = {t.id: t.node for t in c.tasks}
        detail = (f"{len(bad)} of {len(tasks)} tasks failing; on {nodes.get(bad[0][0], '?')}: "
                  f"{bad[0][1]}" if bad else f"{len(tasks)} tasks answer")
        out[path] = Probed(c.id, c.version, not bad, detail, tasks)
    return out


def probe_services(desired: DesiredState, observed: ObservedState, timeout: float = 2.0
                   ) -> dict[str, Probed]:
    """app path -> its probe, for each service whose current container (or service) runs
    with a port (or reachable tasks)."""
    return _probed(_service_targets(desired, observed), timeout)


def probe_health(desired: DesiredState, observed: ObservedState) -> dict[str, str]:
    """app path -> "healthy" or "unhealthy: <detail>" (status and drift); for a cluster
    service also "task:<task id>" -> the same for each of its running tasks. Apps that do not
    evaluate are probed too, by what their running container's labels say (containers made
    before ace labelled that are not probed)."""
    from reconciler.core.report import unevaluated  # status and drift only

    found = _service_targets(desired, observed)
    for path in unevaluated(desired, observed):
        c = current_container(observed.containers, path)
        if c is not None and c.state == "running" and c.health_path:
            targets = _targets(path, c.scheme or "http", c.health_path, c)
            if targets:
                found.append((path, c, targets))
    out: dict[str, str] = {}
    for app, p in _probed(found, 2.0).items():
        out[app] = "healthy" if p.ok else f"unhealthy: {p.detail}"
        for tid, ok, detail in p.tasks:
            out[f"task:{tid}"] = "healthy" if ok else f"unhealthy: {detail}"
    return out
