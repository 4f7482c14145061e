"""The proxy's HTTP/1.1 front: client connections with keep-alive, routing, and the forwarding of
one request (streamed both ways; websocket and other upgrades become raw byte pipes after the
101). Runs on one asyncio loop; `ProxyCore` state is only touched from that loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from reconciler.proxy.address import UPSTREAM_TIMEOUT
from reconciler.proxy.forwarding import (
    _NET_ERRORS,
    IDEMPOTENT,
    _bad_request,
    _BadRequest,
    _body_start,
    _pipe,
    _Refused,
    _Upstream,
    _UpstreamTimeout,
    response_start,
)
from reconciler.proxy.headers import request_headers, response_headers
from reconciler.proxy.http1 import BadMessage, Framing, Head, copy_body, encode_head, parse_response
from reconciler.proxy.pages import json_response, page_response
from reconciler.proxy.paths import NormPath, PathRefused, normalise
from reconciler.proxy.pool import Conn, Pool
from reconciler.proxy.request import DEFAULT_PARSER, PARSERS, read_request_head, request_framing
from reconciler.proxy.routing import Backend, Entry, Slot, Table
from reconciler.proxy.wake import WAKE_LIMIT, Counter, WakeFn, release, wait_awake

__all__ = ["ProxyCore", "response_start"]

FIRST_HEAD_TIMEOUT = 30.0
KEEPALIVE_TIMEOUT = 75.0
SMALL_BODY = 16 * 1024
HOLD_LIMIT = 10.0  # seconds a request waits for an app restarting in place


class ProxyCore:
    def __init__(self, *, connect_timeout: float = 3.0,
                 upstream_timeout: float = UPSTREAM_TIMEOUT, parser: str = DEFAULT_PARSER,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.table = Table(())
        self.slots: dict[str, Slot] = {}
        self.pool = Pool(connect_timeout)
        self.upstream_timeout = upstream_timeout
        self.parse = PARSERS[parser]
        self.status = status
        self.started = time.time()
        self.requests = 0
        self.ready = False  # no pass has told us the apps yet
        self.wake: WakeFn | None = None  # the watch loop's: start a sleeping app
        self.wake_limit = WAKE_LIMIT
        self.traffic: dict[str, Counter] = {}  # per app, for idle shutdown
        self.dashboard: Any = None  # reconciler.dashboard.handler.Dashboard, when enabled

    # -- client side ------------------------------------------------------------------------

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     first: tuple[Head, Framing] | None = None) -> None:
        """Serve a client connection on streams (`first`: a request whose head the protocol
        relay read already, handing the connection over: see `relay`)."""
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        timeout = FIRST_HEAD_TIMEOUT if first is None else KEEPALIVE_TIMEOUT
        try:
            go_on = first is None or await self.one(reader, writer, *first, ip)
            while go_on:
                try:
                    async with asyncio.timeout(timeout):
                        raw = await read_request_head(reader)
                    if raw is None:
                        break
                    head = self.parse(raw)
                    framing = request_framing(head)
                except BadMessage as exc:
                    writer.write(page_response(400, "Bad request", [str(exc)], close=True))
                    break
                timeout = KEEPALIVE_TIMEOUT
                self.requests += 1
                go_on = await self.one(reader, writer, head, framing, ip)
            with contextlib.suppress(*_NET_ERRORS):
                await writer.drain()
        except (*_NET_ERRORS, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: Head,
                  framing: Framing, ip: str) -> bool:
        """Answer one request; returns whether the client connection may carry another."""
        keep = head.version == "HTTP/1.1" and "close" not in head.tokens("connection")
        keep = keep and framing.kind == "none"  # when we answer without reading the body
        method = head.method
        try:
            path = normalise(head.target)
        except PathRefused as exc:
            writer.write(page_response(400, "Path refused", [str(exc)], close=True,
                                       method=method))
            return False
        if self.dashboard is not None:  # reconciler.dashboard: its pages and action paths
            taken = await self.dashboard.handle(self, reader, writer, head, framing, path)
            if taken is not None:
                return bool(taken)
        if path.decoded[:1] == ("_ace",):
            writer.write(await self._internal(path, method, keep))
            return keep
        entry = self.table.find(path)
        if entry is None and not self.ready:
            writer.write(page_response(503, "ace is starting", [
                "the first reconcile pass is still running; apps are served when it is done"],
                close=not keep, method=method, extra=[("Retry-After", "1")]))
            return keep
        if entry is None:
            writer.write(page_response(404, "No app at this path", [path.path], close=not keep,
                                       method=method))
            return keep
        if entry.static is not None:  # a static app: the proxy serves its files (proxy.static)
            return await entry.static.serve(head, path, writer, keep)
        if entry.redirect_bare and len(path.decoded) == len(entry.segs) and not path.trailing:
            status = 301 if method in ("GET", "HEAD") else 308
            loc = entry.prefix + "/" + path.query
            writer.write(page_response(status, "Moved", [loc], close=not keep, method=method,
                                       extra=[("Location", loc)]))
            return keep
        slot = self.slots.get(entry.app)
        if slot is not None and slot.asleep and entry.external is None:
            refused = await wait_awake(slot, self.wake, self.wake_limit)
            if refused:
                writer.write(page_response(503, "App not started", [refused, slot.error],
                                           close=not keep, method=method,
                                           extra=[("Retry-After", "2")]))
                return keep
        if slot is not None and slot.hold is not None and entry.external is None:
            with contextlib.suppress(TimeoutError):  # then try whatever serves by now
                await asyncio.wait_for(slot.hold.wait(), HOLD_LIMIT)
        backend = entry.external or (slot.pick() if slot else None)
        if backend is None:
            state = f" ({slot.state})" if slot and slot.state else ""
            why = f"app {entry.app} ({entry.name}) is not running{state}"
            err = slot.error if slot else ""
            writer.write(page_response(503, "App not running", [why, err], close=not keep,
                                       method=method, extra=[("Retry-After", "2")]))
            return keep
        first_chunk = None
        if framing.kind != "none":
            try:  # read once: a request retried on another task starts from here
                first_chunk = await _body_start(reader, writer, head, framing)
            except _BadRequest as exc:
                return _bad_request(writer, exc, method)
        counter = None
        if entry.external is None:
            counter = self.traffic.setdefault(entry.app, Counter())
            counter.requests += 1
        tried: list[Backend] = []
        while True:
            current = backend
            current.inflight += 1
            try:
                return await self._forward(reader, writer, head, framing, first_chunk, ip, path,
                                           entry, current, counter)
            except _BadRequest as exc:
                return _bad_request(writer, exc, method)
            except _Refused as exc:
                # a cluster task that stopped answering sits out; another one serves
                nxt = None
                if slot is not None and entry.external is None and slot.backend is not None \
                        and slot.backend.members:
                    slot.sit_out(current)
                    tried.append(current)
                    nxt = slot.pick(tried)
                if nxt is None:
                    return self._bad_gateway(writer, entry, slot, current, exc, method)
                backend = nxt
            except _Upstream as exc:
                return self._bad_gateway(writer, entry, slot, current, exc, method)
            finally:
                current.inflight -= 1

    def _bad_gateway(self, writer: asyncio.StreamWriter, entry: Entry, slot: Slot | None,
                     backend: Backend, exc: _Upstream, method: str) -> bool:
        writer.write(self.gateway_page(entry, slot, backend, exc, method))
        return False

    def gateway_page(self, entry: Entry, slot: Slot | None, backend: Backend, exc: _Upstream,
                     method: str) -> bytes:
        """502 for an upstream that failed, 504 for one that sent no response head in time
        (the client connection closes after it)."""
        err = slot.error if slot and entry.external is None else ""
        if isinstance(exc, _UpstreamTimeout):
            why = (f"app {entry.app} ({entry.name}) took the request at {backend.url} but "
                   f"sent no response within {self.upstream_timeout:g} s ({exc}): is its "
                   f"container paused or stuck? (ace serve/watch --upstream-timeout sets "
                   f"the wait)")
            return page_response(504, "App not answering", [why, err], close=True,
                                 method=method)
        why = f"app {entry.app} ({entry.name}) did not answer at {backend.url}: {exc}"
        return page_response(502, "App not answering", [why, err], close=True, method=method)

    async def _internal(self, path: NormPath, method: str, keep: bool) -> bytes:
        rest = path.decoded[1:]
        if rest == ("health",):
            pool = self.pool
            via = ("published ports" if pool.direct_broken else
                   "container network" if pool.direct_worked else "unknown yet")
            return json_response({"ok": True, "uptime": round(time.time() - self.started, 1),
                                  "requests": self.requests, "apps": len(self.slots),
                                  "upstreams_via": via},
                                 close=not keep, method=method)
        if rest == ("status",) and self.status is not None:
            loop = asyncio.get_running_loop()
            try:
                doc = await loop.run_in_executor(None, self.status)
            except Exception as exc:  # the engine is down, say so
                return json_response({"error": str(exc)}, status=503, close=not keep,
                                     method=method)
            return json_response(doc, close=not keep, method=method)
        return page_response(404, "Not found", ["/_ace/health and /_ace/status are ace's own"],
                             close=not keep, method=method)

    # -- upstream side ----------------------------------------------------------------------

    async def _send(self, reader: asyncio.StreamReader, head: Head, framing: Framing,
                    first_chunk: int | None, backend: Backend, first: str,
                    headers: list[tuple[str, str]],
                    on_data: Callable[[int], None] | None = None) -> tuple[Conn, Head]:
        """Send the request (streaming its body) and read the response head, which must come
        within `upstream_timeout` of the request's end (else _UpstreamTimeout; so may the
        upstream stop reading the body). Retried once on a fresh connection when nothing came
        back and no body was sent, if the connection was a reused one the upstream had closed
        meanwhile, or if the method is idempotent and the upstream closed or reset it without a
        byte (docker's port proxy accepts, then finds the container's backlog full); never after
        a timeout."""
        wait = self.upstream_timeout
        for attempt in (0, 1):
            try:
                conn = await self.pool.get(backend)
            except (OSError, TimeoutError) as exc:
                what = "connect timeout" if isinstance(exc, TimeoutError) else str(exc)
                raise _Refused(what or type(exc).__name__) from None
            try:
                conn.writer.write(encode_head(first, headers))
                if framing.kind != "none":
                    try:
                        await copy_body(reader, conn.writer, framing, chunked_out=True,
                                        first_chunk=first_chunk, drain_timeout=wait,
                                        on_data=on_data)
                    except BadMessage as exc:
                        conn.close()
                        raise _BadRequest(str(exc)) from None
                if conn.writer.transport.get_write_buffer_size():  # else nothing to wait for
                    async with asyncio.timeout(wait):
                        await conn.writer.drain()
                while True:
                    async with asyncio.timeout(wait):
                        raw = await conn.read_head()
                    if raw is None:
                        raise ConnectionResetError("upstream closed the connection")
                    resp = parse_response(raw)
                    if resp.status == 101 or not 100 <= resp.status < 200:
                        return conn, resp
            except _NET_ERRORS as exc:
                conn.close()
                if isinstance(exc, TimeoutError):
                    raise _UpstreamTimeout("no response head") from None
                closed = isinstance(exc, ConnectionError)
                if attempt == 0 and framing.kind == "none" and (
                        conn.reused or (closed and head.method in IDEMPOTENT)):
                    continue
                raise _Upstream(str(exc) or type(exc).__name__) from None
        raise AssertionError("unreachable")

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       head: Head, framing: Framing, first_chunk: int | None, ip: str,
                       path: NormPath, entry: Entry, backend: Backend,
                       counter: Counter | None = None) -> bool:
        match = self.table.resolve(entry, path)
        public_host = head.get("host") or "127.0.0.1"
        upgrade = head.get("upgrade") if "upgrade" in head.tokens("connection") else None
        hdrs = request_headers(head, backend=backend, match=match, client_ip=ip,
                               public_host=public_host, framing=framing, upgrade=upgrade)
        first = f"{head.method} {backend.base_path}{match.upstream_path} HTTP/1.1"
        conn, resp = await self._send(reader, head, framing, first_chunk, backend, first, hdrs,
                                      counter.add if counter else None)
        origin = f"http://{public_host}"
        public_url = origin + path.path + path.query
        out = response_headers(resp, backend=backend, match=match, origin=origin,
                               public_url=public_url)
        if resp.status == 101:
            if upgrade is None:
                conn.close()
                raise _Upstream("101 Switching Protocols without an upgrade request")
            out += [("Connection", "Upgrade"), ("Upgrade", resp.get("upgrade") or upgrade)]
            writer.write(encode_head(f"HTTP/1.1 101 {resp.reason}", out))
            await _pipe(reader, writer, conn, counter.add if counter else None)
            return False
        first_line, keep, chunked_out, rf = response_start(head, resp, out)
        try:
            if rf.kind == "length" and rf.length <= SMALL_BODY:  # one write for small answers
                writer.write(first_line + await conn.reader.readexactly(rf.length))
                if counter is not None:
                    counter.add(rf.length)
            else:
                writer.write(first_line)
                await copy_body(conn.reader, writer, rf, chunked_out=chunked_out,
                                on_data=counter.add if counter else None)
            if writer.transport.get_write_buffer_size():  # the client reads slower than we send
                await writer.drain()
        except BaseException:
            conn.close()
            raise
        reusable = (rf.kind != "close" and resp.version == "HTTP/1.1" and upgrade is None
                    and not (resp.tokens("connection") & {"close"}))
        if reusable:
            self.pool.put(conn)
        else:
            conn.close()
        return keep

    # -- switching --------------------------------------------------------------------------

    async def hold(self, app: str, held: bool, drain: float) -> None:
        """Hold the app's new requests (held=True: after the ones in flight finished, at most
        `drain` s, and with idle upstream connections closed: the container restarts), or let
        them go on (held=False)."""
        slot = self.slots.setdefault(app, Slot(app))
        if not held:
            if slot.hold is not None:
                slot.hold.set()
            slot.hold = None
            return
        slot.hold = slot.hold or asyncio.Event()
        if slot.backend is not None:  # one container, or each task of a cluster app
            serving = slot.backend.members or (slot.backend,)
            end = time.monotonic() + drain
            while sum(b.inflight for b in serving) > 0 and time.monotonic() < end:
                await asyncio.sleep(0.01)
            for b in serving:
                self.pool.close_idle(b)

    async def switch(self, app: str, new: Backend | None, drain: float) -> int:
        """Send the app's new requests to `new`; wait (at most `drain` s) for requests in
        flight on the previous backend to finish. Returns how many were still open."""
        slot = self.slots.setdefault(app, Slot(app))
        old = slot.backend
        if new is not None:
            release(slot)  # a sleeping app's waiting requests go to its new container
        if new is not None and new.same(old):
            return 0
        slot.backend = new
        if new is not None:
            slot.error = ""
        if old is None:
            return 0
        # one container, or the tasks of a cluster app that are not among the new ones
        keep = {m.netloc for m in new.members} if new is not None else set()
        gone = [m for m in (old.members or (old,)) if not old.members or m.netloc not in keep]
        for b in gone:
            self.pool.close_idle(b)
        end = time.monotonic() + drain
        while sum(b.inflight for b in gone) > 0 and time.monotonic() < end:
            await asyncio.sleep(0.01)
        return sum(b.inflight for b in gone)
