"""Cheap periodic health probes for `ace watch`: every plain-HTTP target probed at once from one
thread with non-blocking sockets (a GET, read the status line), so watching 100 apps costs a few
milliseconds of CPU per round instead of a thread pool of http.client connections. HTTPS targets
go through `reconciler.apply.health.probe`."""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass

from reconciler.apply.health import probe

__all__ = ["Target", "probe_all"]


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    scheme: str
    port: int
    path: str


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
            out[t.key] = probe(t.scheme, t.port, t.path, timeout=timeout)
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", t.port))
        req = (f"GET {t.path or '/'} HTTP/1.0\r\nHost: 127.0.0.1:{t.port}\r\n"
               "User-Agent: ace-health\r\nConnection: close\r\n\r\n").encode()
        pending[s] = (t, req, bytearray())
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
