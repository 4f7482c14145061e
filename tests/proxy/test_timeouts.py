"""The upstream response-head timeout (504) and what it must not cut (websockets, slow streamed
bodies), and apps a pass saw not running answering at once."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from reconciler.core.types import (
    ContainerSpec,
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
)
from reconciler.proxy.http1 import Framing, copy_body
from tests.proxy.kit import app, configure, request, running
from tests.proxy.upstream import sink, upstream, ws_connect, ws_frame, ws_read


def test_silent_upstream_answers_504_within_the_timeout() -> None:
    """An upstream that accepts and never answers (a paused container) gets a 504 page naming
    the app once the timeout passed; the request is not retried."""
    with sink() as s, running(upstream_timeout=0.5) as p:
        configure(p, [app("/web", name="Web")], {"/web": s.port})
        t0 = time.monotonic()
        status, h, body = request(p, "GET", "/web/x")
        took = time.monotonic() - t0
        assert status == 504 and 0.45 < took < 1.5, (status, took)
        assert b"app /web (Web)" in body and b"within 0.5 s" in body and b"paused" in body
        assert h["connection"] == "close" and s.connections == 1
        status, _, _ = request(p, "POST", "/web/form", body=b"a=1")
        assert status == 504 and s.connections == 2 and b"a=1" in s.received


def test_upstream_that_stops_reading_a_body_times_out() -> None:
    """Sending a request body to an upstream that stopped reading is bounded the same way."""

    async def scenario() -> float:
        server = await asyncio.start_server(lambda r, w: asyncio.sleep(5), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        body = asyncio.StreamReader()
        body.feed_data(b"x" * 64_000_000)
        body.feed_eof()
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await copy_body(body, writer, Framing("length", 64_000_000), chunked_out=False,
                            drain_timeout=0.3)
        took = time.monotonic() - t0
        writer.close()
        server.close()
        return took

    assert asyncio.run(scenario()) < 3.0


def test_websocket_idle_longer_than_the_timeout_stays_open() -> None:
    """After the 101 the connection is a pipe: silence longer than the timeout does not cut it."""
    with upstream("a") as a, running(upstream_timeout=0.3) as p:
        configure(p, [app("/web")], {"/web": a.port})
        sock, head = ws_connect(p.port, "/web/ws")
        assert head.startswith(b"HTTP/1.1 101")
        time.sleep(1.0)
        sock.sendall(ws_frame(b"still here", mask=True))
        assert ws_read(sock) == (1, b"echo: still here (a)")
        sock.close()


def test_slow_streamed_bodies_are_delivered_whole() -> None:
    """A body that pauses longer than the timeout after its first bytes arrives complete, and so
    do server-sent events slower than the timeout."""
    with upstream("a") as a, running(upstream_timeout=0.25) as p:
        configure(p, [app("/web")], {"/web": a.port})
        t0 = time.monotonic()
        status, _, body = request(p, "GET", "/web/trickle/1.0")
        assert (status, body) == (200, b"first halfother half")
        assert time.monotonic() - t0 >= 1.0
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
        conn.request("GET", "/web/events")
        events = conn.getresponse().read()
        conn.close()
        assert events.count(b"data: event") == 3


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full: a connect there waits out the connect timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    queued = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(listener.getsockname())
        queued.append(c)
    try:
        yield int(listener.getsockname()[1])
    finally:
        for c in queued:
            c.close()
        listener.close()


def test_app_seen_not_running_answers_at_once_with_its_state() -> None:
    """After a pass saw an app's container paused (or exited), its requests answer 503 at once
    with the container's state, instead of waiting out the connect or response timeout."""
    with blackhole() as port, running(connect_timeout=3.0) as p:
        apps = [app("/web", name="Web"), app("/gone", name="Gone")]
        configure(p, apps, {"/web": port, "/gone": port})
        spec = ContainerSpec("img", 80)
        desired = DesiredState(tuple(DesiredApp(a, True, "img", None, spec, "v1")
                                     for a in ("/web", "/gone")))
        observed = ObservedState((
            ObservedContainer("c1", "ace-web-1", "/web", "v1", "paused", "Up 3 minutes (Paused)",
                              host_port=port, created=1),
            ObservedContainer("c2", "ace-gone-1", "/gone", "v1", "exited",
                              "Exited (137) 2 seconds ago", host_port=None, created=2)), ())
        p.update(apps, desired, observed, {"/gone": "killed"})
        for path, words in (("/web/x", [b"app /web (Web) is not running", b"is paused"]),
                            ("/gone/", [b"ace-gone-1 is exited: Exited (137)", b"killed"])):
            t0 = time.monotonic()
            status, h, body = request(p, "GET", path)
            took = time.monotonic() - t0
            assert status == 503 and took < 0.5, (path, status, took)
            assert h["retry-after"] == "2" and all(w in body for w in words), body
