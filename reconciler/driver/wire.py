"""Plain HTTP/1.1 to a Docker engine's API socket (`plainhttp`): a small pool of keep-alive
connections that the executor's threads share, JSON in and out, and the engine's failures as
EngineError. `DockerEngine` changes containers, networks and images through it (`lifecycle`),
so a pass that starts, replaces or stops containers never loads the docker SDK; a no-op pass
never loads it, nor http.client.

A request on a reused connection that the engine closed meanwhile (it restarted, or dropped an
idle keep-alive) fails before the engine read it: it is sent once more on a fresh connection.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from apps.errors import EngineError
from reconciler.driver.plainhttp import Connection
from reconciler.driver.podman import PODMAN_HEADER

__all__ = ["Answer", "Wire"]

# what a request on a keep-alive connection the engine already closed fails with
_STALE = (BrokenPipeError, ConnectionResetError)
_IDLE_KEPT = 8  # idle connections kept for reuse (the executor runs a few threads)


@dataclass(frozen=True, slots=True)
class Answer:
    """The engine's answer to one request."""

    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def message(self) -> str:
        """The engine's error message (its JSON `message`, else the body as text)."""
        detail = self.body.decode("utf-8", "replace").strip()
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message", detail)
        return str(detail)

    def failure(self, what: str) -> EngineError:
        """This (error) answer as the EngineError of `what`: retryable only when a gateway
        in front of the engine says it is away, as for the SDK's calls."""
        return EngineError(f"{what}: {self.message}", retryable=self.status in (502, 503, 504))


class Wire:
    """Requests to one engine over plain HTTP. Thread-safe: each request takes an idle
    connection (or opens one) and gives it back when the answer was read in full."""

    def __init__(self, target: tuple[str, str], timeout: float,
                 on_flavor: Callable[[bool], None] = lambda podman: None) -> None:
        self._target = target
        self._timeout = timeout
        self._on_flavor = on_flavor
        self._flavor_known = False
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> tuple[Connection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return Connection(self._target, self._timeout), False

    def _give_back(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_KEPT:
                self._idle.append(conn)
                return
        conn.close()

    def call(self, method: str, path: str, what: str, *,
             query: Mapping[str, str | int] | None = None, body: Any = None,
             timeout: float | None = None) -> Answer:
        """One request (`body` sent as JSON); the answer whatever its status. An engine that
        does not answer raises EngineError (retryable). `timeout`: seconds this request may
        take, when longer than the default (a stop waits for the container)."""
        url = path + ("?" + urlencode(query) if query else "")
        headers = {"Host": "docker"}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        while True:
            conn, reused = self._take()
            conn.set_timeout(self._timeout if timeout is None else max(timeout, self._timeout))
            try:
                resp = conn.request(method, url, headers, data)
            except OSError as exc:
                conn.close()
                if reused and isinstance(exc, _STALE):
                    continue  # the engine closed it while idle: once more on a fresh one
                raise EngineError(f"{what}: the Docker engine is not answering ({exc}); is it "
                                  "running? (DOCKER_HOST selects another)", retryable=True) from exc
            if not self._flavor_known:
                self._flavor_known = True
                self._on_flavor(resp.header(PODMAN_HEADER) is not None)
            if conn.connected:
                self._give_back(conn)
            return Answer(resp.status, resp.body)
