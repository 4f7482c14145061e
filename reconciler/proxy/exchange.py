"""One proxied request on the protocol relay (`relay`): the request body to the upstream
connection as it arrives, then the response to the client, both re-framed as
`ProxyCore._forward` does (the response head by `upstream_head`); retries, swarm task spreading
and the upstream timeout as there."""

from __future__ import annotations

import asyncio
from typing import Protocol

from reconciler.proxy.bodies import BodyFeed
from reconciler.proxy.headers import request_headers
from reconciler.proxy.http1 import BadMessage, Framing, Head, encode_head
from reconciler.proxy.pages import page_response
from reconciler.proxy.paths import NormPath
from reconciler.proxy.pool import RelayConn
from reconciler.proxy.routing import Backend, Entry, Match, Slot
from reconciler.proxy.server import IDEMPOTENT, ProxyCore, _Refused, _Upstream, _UpstreamTimeout
from reconciler.proxy.upstream_head import client_response, split_response
from reconciler.proxy.wake import Counter

__all__ = ["AHEAD", "CLIENT_FULL", "CONNECTING", "READ_AHEAD", "SENDING", "UP_FULL", "Exchange"]

READ_AHEAD = 64 * 1024
# why a client's reading is paused: a request body waits for its connection; the upstream's
# write buffer is full; bytes of later requests were read ahead
CONNECTING, UP_FULL, AHEAD = 1, 2, 4
# why an upstream's reading is paused: the client's write buffer is full; the request is still
# being sent (its answer is read once it was, as on the stream path)
CLIENT_FULL, SENDING = 1, 2


class Client(Protocol):
    """What an exchange uses of its client connection (`relay.Client`)."""

    core: ProxyCore
    loop: asyncio.AbstractEventLoop
    ip: str
    buf: bytes
    ex: Exchange | None
    gone: bool
    write_full: bool

    def hold(self, why: int, on: bool) -> None: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def next(self) -> None: ...


class Exchange:
    """One proxied request: its body to the upstream as it arrives, then the response to the
    client, both re-framed as `ProxyCore._forward` does."""

    __slots__ = ("attempt", "backend", "client", "conn", "counted", "counter", "cut", "dec_req",
                 "dec_resp", "done", "early", "entry", "framing", "head", "keep", "match",
                 "path", "rbuf", "req_done", "req_out", "reusable", "slot", "started", "task",
                 "timer", "tried", "up", "up_held")

    def __init__(self, client: Client, head: Head, framing: Framing, path: NormPath,
                 entry: Entry, slot: Slot | None, backend: Backend) -> None:
        self.client = client
        self.head = head
        self.framing = framing
        self.path = path
        self.entry = entry
        self.slot = slot
        self.backend = backend
        self.match: Match | None = None
        self.cut: BadMessage | None = None  # the request body broke before it could be sent
        self.dec_req = BodyFeed(framing, True)
        self.req_done = framing.kind == "none"
        self.req_out: list[bytes] = []
        self.dec_resp: BodyFeed | None = None
        self.conn: RelayConn | None = None
        self.up: asyncio.Transport | None = None
        self.counter: Counter | None = None
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tried: list[Backend] = []
        self.rbuf = self.early = b""
        self.attempt = self.counted = self.up_held = 0
        self.started = self.done = self.keep = self.reusable = False

    def begin(self) -> None:
        client = self.client
        if self.req_done:
            return self.go()
        if "100-continue" in self.head.tokens("expect"):
            client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        buf, client.buf = client.buf, b""
        if buf:
            self.client_data(buf)
        if not self.done and self.dec_req.sized:
            self.go()

    def go(self) -> None:
        """Count the request and find it a connection (the first chunk size was checked)."""
        if self.started or self.done:
            return
        self.started = True
        core = self.client.core
        if self.entry.external is None:
            self.counter = core.traffic.setdefault(self.entry.app, Counter())
            self.counter.requests += 1
            self._count_req()
        self.backend.inflight += 1
        conn = core.pool.take_relay(self.backend)
        if conn is not None:
            self.attach(conn)
        else:
            self.task = self.client.loop.create_task(self._open())

    async def _open(self) -> None:
        pool = self.client.core.pool
        while True:
            backend = self.backend
            try:
                conn = await pool.get_relay(backend)
            except (OSError, TimeoutError) as exc:
                if self.done:
                    return
                what = "connect timeout" if isinstance(exc, TimeoutError) else str(exc)
                slot, nxt = self.slot, None
                if slot is not None and self.entry.external is None \
                        and slot.backend is not None and slot.backend.members:
                    slot.sit_out(backend)  # a cluster task that stopped answering sits out
                    self.tried.append(backend)
                    nxt = slot.pick(self.tried)
                if nxt is None:
                    return self.fail(_Refused(what or type(exc).__name__))
                backend.inflight -= 1
                nxt.inflight += 1
                self.backend = nxt
                continue
            if self.done:
                conn.close()
                return
            return self.attach(conn)

    def attach(self, conn: RelayConn) -> None:
        up = conn.attach(self)
        self.conn, self.up, self.up_held = conn, up, 0
        client, head, backend = self.client, self.head, self.backend
        if self.match is None:
            self.match = client.core.table.resolve(self.entry, self.path)
        hdrs = request_headers(head, backend=backend, match=self.match, client_ip=client.ip,
                               public_host=head.get("host") or "127.0.0.1",
                               framing=self.framing, upgrade=None)
        data = encode_head(f"{head.method} {backend.base_path}{self.match.upstream_path} "
                           f"HTTP/1.1", hdrs)
        if self.req_out:
            data += b"".join(self.req_out)
            self.req_out = []
            client.hold(CONNECTING, False)
        if client.write_full:
            self.hold_up(CLIENT_FULL, True)
        up.write(data)
        if self.cut is not None:
            return self.bad_request(self.cut)
        if self.req_done:
            self._sent()

    def _sent(self) -> None:
        """The whole request went: its response head must come within the upstream timeout."""
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.client.loop.call_later(self.client.core.upstream_timeout,
                                                         self._timed_out)
        if self.early:
            data, self.early = self.early, b""
            self.hold_up(SENDING, False)
            self.up_data(data)

    def _timed_out(self) -> None:
        self.timer = None
        if not self.done and self.dec_resp is None:
            self.up_failed(TimeoutError())

    def _count_req(self) -> None:
        if self.counter is not None and self.dec_req.count != self.counted:
            self.counter.add(self.dec_req.count - self.counted)
            self.counted = self.dec_req.count

    # -- the request body -------------------------------------------------------------------

    def client_data(self, data: bytes) -> None:
        if self.cut is not None:
            return
        out: list[bytes] = []
        try:
            rest = self.dec_req.feed(data, out)
        except BadMessage as exc:  # what came before the error is forwarded, then 400
            if not self.dec_req.sized or self.done:
                return self.bad_request(exc)
            if self.up is not None:
                if out:
                    self.up.write(b"".join(out))
                return self.bad_request(exc)
            self.req_out += out
            self.cut = exc
            self.client.hold(CONNECTING, True)
            return self.go()
        self._count_req()
        if out:
            if self.up is not None:
                self.up.write(b"".join(out))
            else:
                self.req_out += out
                if sum(map(len, self.req_out)) > READ_AHEAD:
                    self.client.hold(CONNECTING, True)
        if rest is not None:
            self.req_done = True
            self.client.buf = rest
            if len(rest) > READ_AHEAD:
                self.client.hold(AHEAD, True)
            if self.up is not None:
                self._sent()
        if not self.started and self.dec_req.sized:
            self.go()

    def client_eof(self) -> None:
        try:
            self.dec_req.eof([])
        except BadMessage as exc:
            self.bad_request(exc)

    def up_pause(self) -> None:
        self.client.hold(UP_FULL, True)
        if not self.req_done and self.timer is None:  # the upstream stopped reading the body
            self.timer = self.client.loop.call_later(
                self.client.core.upstream_timeout, self._timed_out)

    def up_resume(self) -> None:
        self.client.hold(UP_FULL, False)
        if not self.req_done and self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # -- the response -----------------------------------------------------------------------

    def hold_up(self, why: int, on: bool) -> None:
        before = self.up_held
        self.up_held = before | why if on else before & ~why
        if self.up is None or bool(before) == bool(self.up_held):
            return
        if self.up_held:
            self.up.pause_reading()
        else:
            self.up.resume_reading()

    def up_data(self, data: bytes) -> None:
        if self.done:
            return
        if not self.req_done:  # answered before the request was all sent: read it after
            self.early += data
            if len(self.early) > READ_AHEAD:
                self.hold_up(SENDING, True)
            return
        dec = self.dec_resp
        out: list[bytes] = []
        if dec is None:
            try:
                got = self._response_head(self.rbuf + data if self.rbuf else data)
            except BadMessage as exc:
                return self.up_failed(exc)
            except _Upstream as exc:
                return self.fail(exc)
            if got is None:
                return
            pre, data = got
            out.append(pre)
            dec = self.dec_resp
            assert dec is not None
        before = dec.count
        try:
            rest = dec.feed(data, out)
        except BadMessage:
            self.client.write(b"".join(out))
            return self.finish(False, False)
        if self.counter is not None and dec.count != before:
            self.counter.add(dec.count - before)
        if out:
            self.client.write(b"".join(out))
        if rest is not None:
            self.finish(self.reusable and not rest)

    def _response_head(self, data: bytes) -> tuple[bytes, bytes] | None:
        resp, data = split_response(data)
        if resp is None:
            self.rbuf = data
            return None
        self.rbuf = b""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        match = self.match
        assert match is not None
        try:
            start = client_response(self.head, resp, backend=self.backend, match=match,
                                    path=self.path)
        except BadMessage:  # the upstream's framing cannot be relayed: as on streams, close
            self.finish(False, False)
            return None
        self.keep, self.reusable, self.dec_resp = start.keep, start.reusable, start.feed
        return start.head, data

    def up_eof(self) -> None:
        self.up_end(None)

    def up_lost(self, exc: Exception | None) -> None:
        self.up_end(exc)

    def up_end(self, exc: Exception | None) -> None:
        if self.done:
            return
        dec = self.dec_resp
        if dec is None or not self.req_done:
            return self.up_failed(exc)
        out: list[bytes] = []
        try:
            if exc is not None:
                raise BadMessage(str(exc))
            dec.eof(out)
        except BadMessage:
            return self.finish(False, False)
        if out:
            self.client.write(b"".join(out))
        self.finish(False)

    def up_failed(self, exc: BaseException | None) -> None:
        """No response head came: retried once on a fresh connection when nothing but a head
        was sent and the connection was a reused one, or closed by an idempotent request's
        upstream without a byte; else 502 (504 after the timeout)."""
        if self.done:
            return
        conn = self.conn
        self._drop()
        if isinstance(exc, TimeoutError):
            return self.fail(_UpstreamTimeout("no response head"))
        closed = exc is None or isinstance(exc, ConnectionError)
        if self.attempt == 0 and self.framing.kind == "none" and conn is not None and (
                conn.reused or (closed and self.head.method in IDEMPOTENT)):
            self.attempt = 1
            self.rbuf = self.early = b""
            pool_conn = self.client.core.pool.take_relay(self.backend)
            if pool_conn is not None:
                return self.attach(pool_conn)
            self.task = self.client.loop.create_task(self._open())
            return None
        what = "upstream closed the connection" if exc is None else str(exc)
        return self.fail(_Upstream(what or type(exc).__name__))

    # -- the end ----------------------------------------------------------------------------

    def _drop(self) -> None:
        conn, self.conn, self.up = self.conn, None, None
        if conn is not None:
            conn.close()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def fail(self, exc: _Upstream) -> None:
        if not self.done:
            core = self.client.core
            self.client.write(core.gateway_page(self.entry, self.slot, self.backend, exc,
                                                self.head.method))
            self.finish(False, False)

    def bad_request(self, exc: BadMessage) -> None:
        if not self.done:
            self.client.write(page_response(400, "Bad request", [str(exc)], close=True,
                                            method=self.head.method))
            self.finish(False, False)

    def finish(self, reusable: bool, keep: bool | None = None) -> None:
        """The exchange is over: the upstream connection back to the pool (`reusable`) or
        closed; the client connection on to its next request, or closed."""
        if self.done:
            return
        self.done = True
        if self.started:
            self.backend.inflight -= 1
        conn = self.conn
        if reusable and conn is not None and self.req_done:
            if self.up_held:
                conn.transport.resume_reading()
            self.conn = self.up = None
            self.client.core.pool.put_relay(conn)
        self._drop()
        client = self.client
        client.ex = None
        if client.gone:
            return
        if not (self.keep if keep is None else keep):
            client.close()
        else:
            client.next()

