"""HTTP health checks of a freshly started container: GET scheme://127.0.0.1:PORT/PATH until 200.

Backoff 100 ms doubling to 2 s within a deadline; a container that exits fails at once."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HealthResult", "probe", "wait_healthy"]


@dataclass(frozen=True, slots=True)
class HealthResult:
    ok: bool
    detail: str  # "200 OK after 0.31 s", "container exited: Exited (1)", "timeout after 60 s: ..."
    attempts: int
    seconds: float


def probe(scheme: str, port: int, path: str, *, timeout: float = 2.0) -> tuple[int, str]:
    """One GET; returns (status, reason) or (0, error text) when nothing answered."""
    conn: http.client.HTTPConnection
    if scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "ace-health"})
        resp = conn.getresponse()
        resp.read(64 * 1024)
        return resp.status, f"{resp.status} {resp.reason}"
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()


def wait_healthy(
    *,
    scheme: str,
    port: int,
    path: str,
    deadline_s: float,
    exited: Callable[[], str | None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HealthResult:
    """Poll until a 200. `exited()` returns a description when the container is no longer
    running (checked after every failed attempt), else None."""
    start = clock()
    delay = 0.1
    attempts = 0
    last = "no answer yet"
    while True:
        attempts += 1
        status, detail = probe(scheme, port, path, timeout=min(2.0, max(0.2, deadline_s)))
        elapsed = clock() - start
        if status == 200:
            return HealthResult(True, f"200 OK after {elapsed:.2f} s", attempts, elapsed)
        last = detail
        gone = exited()
        if gone:
            return HealthResult(False, f"container exited: {gone}", attempts, elapsed)
        if elapsed + delay > deadline_s:
            return HealthResult(
                False, f"not healthy after {deadline_s:g} s (last answer: {last})", attempts,
                elapsed,
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)
