"""Requests to the engine on one kept-alive HTTP/1.1 connection (a unix socket or TCP), with
nothing but `socket`: `http.client` imports the `email` package and `ssl` (about a tenth of
what a no-op reconcile spends in all), for the three things the driver needs — a status line,
headers, and a body framed by Content-Length, chunks or the connection's end. The no-op's
reads and the change path's calls (`wire`) both go through it.

Errors are OSErrors: a refused or timed-out connection as the socket raises them, a peer that
closed a reused connection before answering as ConnectionResetError (the caller retries once),
and an answer that is not HTTP as `BadResponse`.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import BinaryIO, NamedTuple

__all__ = ["BadResponse", "Connection", "Response", "open_socket"]

_MAX_LINE = 65536
_MAX_HEADERS = 200


class BadResponse(OSError):
    """The engine's answer is not well-formed HTTP/1.x."""


class Response(NamedTuple):
    """A whole answer: status, headers (names lower-cased) and body. (A NamedTuple: defining
    it costs a fifth of a frozen dataclass, on every command's start.)"""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Connection:
    """Requests to `("unix", path)` or `("tcp", "host[:port]")`, connecting on the first and
    reconnecting after the engine closed the connection. Not thread-safe."""

    def __init__(self, target: tuple[str, str], timeout: float | None) -> None:
        self._kind, self._where = target
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._file: BinaryIO | None = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def set_timeout(self, timeout: float | None) -> None:
        """Seconds each socket operation may take from now on (a stop waits for the container)."""
        self._timeout = timeout
        if self._sock is not None:
            self._sock.settimeout(timeout)

    def _connect(self) -> tuple[socket.socket, BinaryIO]:
        if self._sock is None or self._file is None:
            sock = open_socket((self._kind, self._where), self._timeout)
            self._sock, self._file = sock, sock.makefile("rb")
        return self._sock, self._file

    def get(self, target: str, headers: Mapping[str, str]) -> Response:
        """GET `target` (path and query); the whole answer."""
        return self.request("GET", target, headers)

    def request(self, method: str, target: str, headers: Mapping[str, str],
                body: bytes | None = None) -> Response:
        """One request; the whole answer. The connection stays open unless the engine said it
        closes it (or any error)."""
        sock, f = self._connect()
        if body is not None or method in ("POST", "PUT", "PATCH"):
            headers = {**headers, "Content-Length": str(len(body or b""))}
        fields = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        try:
            sock.sendall(f"{method} {target} HTTP/1.1\r\n{fields}\r\n".encode("latin-1")
                         + (body or b""))
            status, head, keep = _read_head(f)
            answer = _read_body(f, status, head)
        except BaseException:
            self.close()
            raise
        if not keep or "content-length" not in head and "chunked" not in _codings(head):
            self.close()
        return Response(status, head, answer)


def open_socket(target: tuple[str, str], timeout: float | None) -> socket.socket:
    """A connected socket to `("unix", path)` or `("tcp", "host[:port]")`."""
    kind, where = target
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(where)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(_host_port(where), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _host_port(where: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` (port 80 when none, as http.client has it)."""
    host, sep, port = where.rpartition(":")
    if not sep or "]" in port:
        host, port = where, ""
    host = host.removeprefix("[").removesuffix("]")
    if port and not port.isdigit():
        raise BadResponse(f"bad port in engine address {where!r}")
    return host, int(port) if port else 80


def _line(f: BinaryIO) -> bytes:
    line = f.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise BadResponse("an over-long line in the engine's answer")
    return line


def _read_head(f: BinaryIO) -> tuple[int, dict[str, str], bool]:
    """(status, headers, whether the connection stays open) of an answer; a 1xx interim answer
    is skipped."""
    while True:
        line = _line(f)
        if not line:
            raise ConnectionResetError("the engine closed the connection without answering")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise BadResponse(f"not an HTTP answer: {line[:80]!r}")
        head: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = _line(f)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = raw.decode("latin-1").partition(":")
            if not colon:
                raise BadResponse(f"a bad header line in the engine's answer: {raw[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            head[key] = f"{head[key]}, {value}" if key in head else value
        else:
            raise BadResponse("too many headers in the engine's answer")
        status = int(code)
        if status >= 200:
            tokens = {t.strip().lower() for t in head.get("connection", "").split(",")}
            keep = "close" not in tokens if version != "HTTP/1.0" else "keep-alive" in tokens
            return status, head, keep


def _codings(head: Mapping[str, str]) -> list[str]:
    return [c.strip().lower() for c in head.get("transfer-encoding", "").split(",") if c.strip()]


def _read_body(f: BinaryIO, status: int, head: Mapping[str, str]) -> bytes:
    if status in (204, 304):
        return b""
    if _codings(head)[-1:] == ["chunked"]:
        return _read_chunked(f)
    length = head.get("content-length")
    if length is None:
        return f.read()  # until the engine closes the connection
    if not length.strip().isdigit():
        raise BadResponse(f"a bad Content-Length in the engine's answer: {length!r}")
    return _read_exact(f, int(length))


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise BadResponse(f"the engine's answer ended after {len(data)} of {n} bytes")
    return data


def _read_chunked(f: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size = _line(f).split(b";", 1)[0].strip()
        try:
            n = int(size, 16)
        except ValueError:
            raise BadResponse(f"a bad chunk size in the engine's answer: {size[:20]!r}") from None
        if n == 0:
            while _line(f) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        parts.append(_read_exact(f, n))
        if _line(f) not in (b"\r\n", b"\n"):
            raise BadResponse("a chunk of the engine's answer is not followed by CRLF")
