"""The protocol relay's flow control and connection ends: a slow reader or a slow upstream does
not make the proxy buffer a whole body, a client's half-close still gets its answer, and a
client gone mid-response closes the upstream connection and frees the request's slot."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from reconciler.proxy.service import ProxyService
from tests.proxy.kit import app, configure, request, running

BIG = 48 * 1024 * 1024
BOUND = BIG // 2  # socket buffers on loopback hold a few MB; a proxy holding all would pass it


class Raw:
    """A one-connection-at-a-time upstream on a raw socket; `handler(conn, self)` serves each
    connection and records what it saw in `sent`, `received` and `closed_seen`."""

    def __init__(self, handler: Callable[[socket.socket, Raw], None]) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sent = 0
        self.received = 0
        self.closed_seen = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    self.handler(conn, self)
                except OSError:
                    self.closed_seen.set()


@contextmanager
def raw(handler: Callable[[socket.socket, Raw], None]) -> Iterator[Raw]:
    r = Raw(handler)
    try:
        yield r
    finally:
        r.listener.close()


def _read_head(conn: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = conn.recv(65536)
        if not got:
            raise ConnectionError("closed before the head's end")
        buf += got
    return buf


def _big_answer(conn: socket.socket, up: Raw) -> None:
    _read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
    piece = b"x" * 65536
    left = BIG
    while left:
        n = conn.send(piece[:left])
        up.sent += n
        left -= n


def _proxy(up: Raw, p: ProxyService) -> socket.socket:
    configure(p, [app("/web")], {"/web": up.port})
    c = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    return c


def _body_after_head(c: socket.socket, want: int) -> int:
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += c.recv(65536)
    got = len(buf.split(b"\r\n\r\n", 1)[1])
    while got < want:
        n = len(c.recv(1 << 20))
        if not n:
            break
        got += n
    return got


def test_a_slow_client_is_not_buffered_for() -> None:
    """A client that stops reading a large response pauses the upstream: the upstream can only
    send what the socket buffers hold, not the whole body; the client then gets all of it."""
    with raw(_big_answer) as up, running() as p:
        c = _proxy(up, p)
        c.sendall(b"GET /web/big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(1.5)  # the client reads nothing meanwhile
        held = up.sent
        assert 0 < held < BOUND, held
        assert _body_after_head(c, BIG) == BIG
        c.close()


def _slow_reader(conn: socket.socket, up: Raw) -> None:
    head = _read_head(conn)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    got = len(head.split(b"\r\n\r\n", 1)[1])
    time.sleep(1.5)  # reads nothing of the body meanwhile
    while got < length:
        n = len(conn.recv(1 << 20))
        if not n:
            return
        got += n
    up.received = got
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_an_upload_to_a_slow_upstream_is_not_buffered_for() -> None:
    """While the upstream does not read a request body, the proxy stops reading the client:
    the client can only send what the socket buffers hold; the body then arrives whole."""
    with raw(_slow_reader) as up, running() as p:
        c = _proxy(up, p)
        c.sendall(b"POST /web/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BIG)
        c.setblocking(False)
        sent, piece, t0 = 0, b"y" * 65536, time.monotonic()
        while time.monotonic() - t0 < 1.0:
            try:
                sent += c.send(piece)
            except BlockingIOError:
                time.sleep(0.01)
        assert 0 < sent < BOUND, sent
        c.setblocking(True)
        left = BIG - sent
        while left:
            left -= c.send(piece[:left])
        answer = c.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok"), answer
        assert up.received == BIG
        c.close()


def _never_reads(conn: socket.socket, up: Raw) -> None:
    _read_head(conn)
    time.sleep(4)


def test_an_upstream_that_stops_reading_a_body_gets_504() -> None:
    """An upstream that stops reading a request body answers 504 once the timeout passed."""
    with raw(_never_reads) as up, running(upstream_timeout=0.5) as p:
        c = _proxy(up, p)
        c.sendall(b"POST /web/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BIG)
        c.setblocking(False)
        answer, piece, t0 = b"", b"y" * 65536, time.monotonic()
        while not answer and time.monotonic() - t0 < 3.0:
            try:
                c.send(piece)
            except (BlockingIOError, ConnectionError):
                time.sleep(0.02)
            with suppress(BlockingIOError):
                answer = c.recv(65536)
        assert answer.startswith(b"HTTP/1.1 504 "), answer[:200]
        c.close()


def _answer_after_eof(conn: socket.socket, up: Raw) -> None:
    _read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


def test_half_closed_client_still_gets_the_answer() -> None:
    """A client that shuts its sending side after the request gets the whole response, then
    the proxy closes the connection."""
    with raw(_answer_after_eof) as up, running() as p:
        c = _proxy(up, p)
        c.sendall(b"GET /web/x HTTP/1.1\r\nHost: x\r\n\r\n")
        c.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := c.recv(65536):
            got += chunk
        assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"\r\n\r\nhello"), got
        c.close()


def test_client_gone_mid_response_closes_the_upstream_connection() -> None:
    """A client that disconnects in the middle of a large response: the proxy closes the
    upstream connection (its sending fails), the request's slot is freed, and the next request
    is served."""
    with raw(_big_answer) as up, running() as p:
        c = _proxy(up, p)
        c.sendall(b"GET /web/big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(65536).startswith(b"HTTP/1.1 200 ")
        c.close()
        assert up.closed_seen.wait(5), up.sent
        assert up.sent < BIG
        backend = p.core.slots["/web"].backend
        assert backend is not None and backend.inflight == 0
        up.handler = _answer_after_eof
        status, _, body = request(p, "GET", "/web/again")
        assert status == 200 and body == b"hello"
