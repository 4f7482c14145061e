"""The proxy's client connections on protocol callbacks: request heads read and checked as bytes
arrive (the same rules as `request.read_request_head`), and a proxied request relayed between
the client's transport and an upstream connection's (`pool`) without a task or a stream, unless
a new upstream connection must be opened (one task for the connect).

Flow control: when the client's write buffer is over its high-water mark the upstream's reading
is paused until it drained, and the other way round for a request body; the client's bytes
after the request being answered are read ahead by at most `READ_AHEAD`. Anything else (ace's own
pages, the dashboard, static apps, redirects, waking a sleeping app, a hold during a restart,
upgrades, refusals) hands the connection to the stream path (`ProxyCore.client`) for good."""

from __future__ import annotations

import asyncio

from reconciler.proxy.exchange import (
    AHEAD,
    CLIENT_FULL,
    CONNECTING,
    READ_AHEAD,
    UP_FULL,
    Exchange,
)
from reconciler.proxy.http1 import MAX_HEAD, BadMessage, Framing, Head
from reconciler.proxy.pages import page_response
from reconciler.proxy.paths import PathRefused, normalise
from reconciler.proxy.request import check_request_line, request_framing
from reconciler.proxy.server import FIRST_HEAD_TIMEOUT, KEEPALIVE_TIMEOUT, ProxyCore

__all__ = ["Client", "split_head"]



def split_head(buf: bytes) -> tuple[bytes, bytes] | None:
    """(request head, the bytes after it) when `buf` holds a whole head, else None; BadMessage
    as soon as a line is wrong: an LF without CR, a bad request line, more than MAX_HEAD."""
    start = 0
    while buf.startswith(b"\r\n", start):
        start += 2
    nl = buf.find(b"\n", start)
    if nl < 0:
        if len(buf) > MAX_HEAD:
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes")
        return None
    line = buf[start:nl + 1]
    if not line.endswith(b"\r\n"):
        raise BadMessage(f"line not ended by CRLF {line[:60]!r}")
    check_request_line(line)
    end = buf.find(b"\n\r\n", nl)
    block = buf[nl + 1:end + 1] if end >= 0 else buf[nl + 1:buf.rfind(b"\n") + 1]
    if block.count(b"\n") != block.count(b"\r\n"):
        raise BadMessage("line not ended by CRLF")
    if (end + 3 if end >= 0 else len(buf)) > MAX_HEAD:
        raise BadMessage(f"message head larger than {MAX_HEAD} bytes")
    if end < 0:
        return None
    return buf[start:end + 3], buf[end + 3:]


class Client(asyncio.StreamReaderProtocol):
    """One client connection. Its StreamReader is only fed once the connection went to the
    stream path."""

    def __init__(self, core: ProxyCore, loop: asyncio.AbstractEventLoop) -> None:
        reader = asyncio.StreamReader(limit=64 * 1024, loop=loop)
        super().__init__(reader, loop=loop)
        self.reader = reader
        self.core = core
        self.loop = loop
        self.t: asyncio.Transport | None = None
        self.ip = "127.0.0.1"
        self.buf = b""  # bytes not yet taken by a request
        self.ex: Exchange | None = None
        self.eof = self.slow = self.gone = self.closing = self.write_full = False
        self.held = 0
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    # -- transport callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.t = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        self._idle(FIRST_HEAD_TIMEOUT)

    def data_received(self, data: bytes) -> None:
        if self.slow:
            super().data_received(data)
            return
        ex = self.ex
        if ex is not None and not ex.req_done:
            ex.client_data(data)
            return
        self.buf = self.buf + data if self.buf else data
        if ex is None:
            self._heads()
        elif len(self.buf) > READ_AHEAD:
            self.hold(AHEAD, True)

    def eof_received(self) -> bool:
        if self.slow:
            return bool(super().eof_received())
        self.eof = True
        if self.ex is None:
            self._heads()
        elif not self.ex.req_done:
            self.ex.client_eof()
        return True  # the answer may still be on its way (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.gone = True
        if self.timer is not None:
            self.timer.cancel()
        if self.ex is not None:
            self.ex.finish(False, False)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.write_full = True
        if self.ex is not None:
            self.ex.hold_up(CLIENT_FULL, True)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.write_full = False
        if self.ex is not None:
            self.ex.hold_up(CLIENT_FULL, False)

    # -- requests ---------------------------------------------------------------------------

    def hold(self, why: int, on: bool) -> None:
        before = self.held
        self.held = before | why if on else before & ~why
        if self.t is None or self.gone or self.slow or bool(before) == bool(self.held):
            return
        if self.held:
            self.t.pause_reading()
        else:
            self.t.resume_reading()

    def write(self, data: bytes) -> None:
        if not self.gone and self.t is not None:
            self.t.write(data)

    def close(self) -> None:
        self.closing = True
        if self.t is not None:
            self.t.close()

    def _idle(self, timeout: float) -> None:
        self.deadline = self.loop.time() + timeout
        if self.timer is None:
            self.timer = self.loop.call_at(self.deadline, self._check_idle)

    def _check_idle(self) -> None:
        self.timer = None
        if self.gone or self.slow or self.ex is not None:
            return  # an exchange restarts the wait when it ends
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self._check_idle)
        else:
            self.close()  # no request head in time

    def next(self) -> None:
        """The exchange ended with the connection kept: on to the next request."""
        self.hold(CONNECTING | UP_FULL | AHEAD, False)
        self._idle(KEEPALIVE_TIMEOUT)
        self._heads()

    def _heads(self) -> None:
        while self.ex is None and not (self.slow or self.gone or self.closing):
            try:
                got = split_head(self.buf)
                if got is None:
                    if self.eof:
                        if self.buf.strip():
                            raise BadMessage("connection closed in the middle of a message head")
                        self.close()
                    return
                raw, self.buf = got
                head = self.core.parse(raw)
                framing = request_framing(head)
            except BadMessage as exc:
                self.write(page_response(400, "Bad request", [str(exc)], close=True))
                self.close()
                return
            self.core.requests += 1
            self._request(head, framing)

    def _request(self, head: Head, framing: Framing) -> None:
        core = self.core
        try:
            path = normalise(head.target)
        except PathRefused:
            return self._to_streams(head, framing)
        dash = core.dashboard
        if path.decoded[:1] == ("_ace",) or (dash is not None
                                             and dash.find_action(path) is not None):
            return self._to_streams(head, framing)
        entry = core.table.find(path)
        if entry is None or entry.static is not None or "upgrade" in head.tokens("connection") \
                or (entry.redirect_bare and len(path.decoded) == len(entry.segs)
                    and not path.trailing):
            return self._to_streams(head, framing)
        slot = core.slots.get(entry.app)
        if slot is not None and entry.external is None and (slot.asleep or
                                                             slot.hold is not None):
            return self._to_streams(head, framing)
        backend = entry.external or (slot.pick() if slot else None)
        if backend is None:
            return self._to_streams(head, framing)
        self.ex = Exchange(self, head, framing, path, entry, slot, backend)
        self.ex.begin()

    def _to_streams(self, head: Head, framing: Framing) -> None:
        """This request and the rest of the connection go to the stream path."""
        self.slow = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.buf:
            self.reader.feed_data(self.buf)
            self.buf = b""
        if self.eof:
            self.reader.feed_eof()
        if self.held and self.t is not None:
            self.held = 0
            self.t.resume_reading()
        assert self.t is not None
        writer = asyncio.StreamWriter(self.t, self, self.reader, self.loop)
        self.task = self.loop.create_task(self.core.client(self.reader, writer, (head, framing)))
