"""A local HTTP/1.1 upstream for proxy tests (threads, loopback only) and a tiny websocket
client: echo of path/headers/body as JSON, redirects, slow and streamed responses, server-sent
events, a websocket echo."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_frame(payload: bytes, *, mask: bool, opcode: int = 1) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        got = sock.recv(n - len(buf))
        if not got:
            raise ConnectionError("closed")
        buf += got
    return buf


def ws_read(sock: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", _exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", _exact(sock, 8))[0]
    key = _exact(sock, 4) if b1 & 0x80 else b""
    data = _exact(sock, n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.read(2)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802
        self.server.hits += 1
        p = self.path
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        if p.startswith("/redirect-abs"):
            host = f"127.0.0.1:{self.server.port}"
            return self._send(302, b"", {"Location": f"http://{host}/landed?x=1"})
        if p.startswith("/redirect-rel"):
            return self._send(302, b"", {"Location": "/landed"})
        if p.startswith("/slow"):
            time.sleep(float(p.rsplit("/", 1)[1]))
        if p.startswith("/big"):
            n = int(p.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            left = n
            while left:
                self.wfile.write(chunk[:left])
                left -= min(left, len(chunk))
            return None
        if p.startswith("/trickle/"):  # half the body, a pause, the rest
            pause = float(p.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", "20")
            self.end_headers()
            self.wfile.write(b"first half")
            self.wfile.flush()
            time.sleep(pause)
            self.wfile.write(b"other half")
            return None
        if p.startswith("/events"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(f"data: event {i}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.3)
            self.close_connection = True
            return None
        doc = {"path": p, "method": self.command, "headers": dict(self.headers.items()),
               "name": self.server.name}
        return self._send(200, json.dumps(doc).encode(), {"Keep-Alive": "timeout=5",
                                                          "X-Upstream": self.server.name})

    do_HEAD = do_GET  # noqa: N815

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        digest = hashlib.sha256(body).hexdigest()
        doc = {"path": self.path, "length": len(body), "sha256": digest,
               "te": self.headers.get("Transfer-Encoding", "")}
        self._send(200, json.dumps(doc).encode())

    def _websocket(self) -> None:
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(self.headers["Sec-WebSocket-Key"]))
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        try:
            while True:
                op, data = ws_read(sock)
                if op == 8:
                    sock.sendall(ws_frame(data, mask=False, opcode=8))
                    break
                sock.sendall(ws_frame(b"echo: " + data + f" ({self.server.name})".encode(),
                                      mask=False))
        except ConnectionError:
            pass
        self.close_connection = True


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.name = name
        self.hits = 0

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def upstream(name: str = "up") -> Iterator[Upstream]:
    srv = Upstream(name)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


class Sink:
    """A raw TCP upstream that counts connections and bytes and never answers (a paused
    container: the kernel accepts, nothing reads or writes)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.05)
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self.received = b""
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                self.received += data

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.listener.close()
        for c in self._open:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()


@contextmanager
def sink() -> Iterator[Sink]:
    s = Sink()
    try:
        yield s
    finally:
        s.close()


def ws_connect(port: int, path: str, timeout: float = 5.0) -> tuple[socket.socket, bytes]:
    """Open a websocket through `127.0.0.1:port`; returns the socket and the response head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        got = sock.recv(1)
        if not got:
            break
        head += got
    assert ws_accept(key).encode() in head, head
    return sock, head
