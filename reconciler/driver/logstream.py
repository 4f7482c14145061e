"""A container's log as timed lines, read from the engine's logs endpoint over plain HTTP (stdlib
only): the multiplexed stream tells stdout from stderr, `timestamps=1` gives each line's time.
A follow can be stopped from another thread (the socket is shut down), so a reader that went
away never leaves a thread blocked on a quiet container. `pass_lines`, the answer's body to
lines, serves the SDK's log stream (TLS, ssh) too."""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote, urlencode

from apps.errors import EngineError
from reconciler.driver.attrs import parse_timestamp
from reconciler.driver.plainhttp import open_socket
from reconciler.driver.ports import LogLine

__all__ = ["Body", "connection", "logs_query", "pass_lines", "read_log_lines", "split_timestamp"]

_STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}


def split_timestamp(line: str) -> tuple[float, str]:
    """A `timestamps=1` log line -> (unix seconds, text); (0, line) when it has none."""
    stamp, sep, text = line.partition(" ")
    if sep and len(stamp) >= 20 and stamp[4:5] == "-" and stamp[10:11] == "T":
        with contextlib.suppress(ValueError):
            return parse_timestamp(stamp), text
    return 0.0, line


class _Lines:
    """Bytes of one stream -> whole lines (UTF-8 safe), each passed on with its time."""

    def __init__(self, stream: str, on_line: Callable[[LogLine], None]) -> None:
        self.stream = stream
        self.on_line = on_line
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""

    def feed(self, data: bytes) -> None:
        self.pending += self.decoder.decode(data)
        *whole, self.pending = self.pending.split("\n")
        for raw in whole:
            self._emit(raw)

    def flush(self) -> None:
        rest = self.pending + self.decoder.decode(b"", final=True)
        if rest:
            self._emit(rest)
        self.pending = ""

    def _emit(self, raw: str) -> None:
        t, text = split_timestamp(raw.rstrip("\r"))
        self.on_line(LogLine(self.stream, t, text))


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = open_socket(("unix", self._path), self.timeout)


def connection(target: tuple[str, str], timeout: float | None) -> http.client.HTTPConnection:
    """A fresh connection for one log stream to `("unix", path)` or `("tcp", "host:port")`."""
    kind, where = target
    return (_UnixConnection(where, timeout) if kind == "unix"
            else http.client.HTTPConnection(where, timeout=timeout))


def logs_query(*, tail: int, since: float, follow: bool) -> dict[str, int | str]:
    """The logs endpoint's query: both streams, each line timed, the last `tail` (all when
    negative), from `since` (unix seconds; 0 for the start)."""
    return {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": int(follow),
            "tail": "all" if tail < 0 else tail,
            # a float holds a time to ~0.2 µs: ask from 1 µs before, so the line at `since`
            # itself is not lost to rounding
            "since": f"{since - 1e-6:.6f}" if since > 0 else 0}


class Body(Protocol):
    """An answer's body being read: http.client's response, or urllib3's under the SDK."""

    def read(self, amt: int, /) -> bytes: ...

    def read1(self, amt: int, /) -> bytes: ...


def _read_exact(body: Body, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = body.read(n - len(out))
        if not chunk:
            return b""
        out += chunk
    return out


def read_log_lines(conn: http.client.HTTPConnection, container_id: str, *, tail: int,
                   since: float, follow: bool, on_line: Callable[[LogLine], None],
                   stop: threading.Event | None = None) -> None:
    """GET the container's logs on `conn` (a fresh connection, closed here) and pass each line
    on; returns at the end of the log (with `follow`: when the container stops), or soon after
    `stop` is set."""
    query = urlencode(logs_query(tail=tail, since=since, follow=follow))
    try:
        try:
            conn.request("GET", f"/containers/{quote(container_id)}/logs?{query}",
                         headers={"Host": "docker"})
            sock = conn.sock
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(f"read logs of {container_id}: the Docker engine is not answering"
                              f" ({exc})", retryable=True) from exc
        if resp.status >= 400:
            detail = resp.read().decode("utf-8", "replace").strip()
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise EngineError(f"read logs of {container_id}: {detail}")
        pass_lines(resp, resp.getheader("Content-Type") or "", on_line, stop=stop,
                   cut=(lambda: sock.shutdown(socket.SHUT_RDWR))
                   if isinstance(sock, socket.socket) else None,
                   errors=(http.client.HTTPException,))
    finally:
        conn.close()


def pass_lines(body: Body, content_type: str, on_line: Callable[[LogLine], None], *,
               stop: threading.Event | None = None, cut: Callable[[], None] | None = None,
               errors: tuple[type[Exception], ...] = ()) -> None:
    """The lines of an open logs answer, told stdout from stderr, passed on until its end, or
    soon after `stop` is set: then `cut` (from a thread of its own) ends a read blocked on a
    quiet container. The end of the answer, an OSError or one of `errors` (the transport's own)
    ends the log."""
    done = threading.Event()
    if stop is not None and cut is not None:
        threading.Thread(target=_stopper, args=(stop, done, cut), daemon=True,
                         name="ace-log-stop").start()
    try:
        streams = {n: _Lines(s, on_line) for n, s in _STREAMS.items()}
        with contextlib.suppress(OSError, ValueError, *errors):
            head = _read_exact(body, 8)
            # Engines before API 1.42 say nothing of the framing: a frame header starts with
            # the stream number and three zero bytes (a TTY container's raw text never does).
            muxed = "multiplexed" in content_type or (
                "raw-stream" not in content_type and len(head) == 8
                and head[0] <= 2 and head[1:4] == b"\0\0\0")
            if not muxed:
                streams[1].feed(head)
            while head and not (stop is not None and stop.is_set()):
                if muxed:
                    data = _read_exact(body, int.from_bytes(head[4:8], "big"))
                    streams.get(head[0], streams[1]).feed(data)
                    head = _read_exact(body, 8)
                else:
                    head = body.read1(65536)
                    streams[1].feed(head)
        if not (stop is not None and stop.is_set()):
            for s in streams.values():
                s.flush()
    finally:
        done.set()


def _stopper(stop: threading.Event, done: threading.Event, cut: Callable[[], None]) -> None:
    while not done.is_set():
        if stop.wait(0.2):
            with contextlib.suppress(OSError):
                cut()
            return
