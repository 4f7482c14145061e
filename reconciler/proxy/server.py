"""The proxy's HTTP/1.1 front: client connections with keep-alive, routing, and the forwarding of
one request (streamed both ways; websocket and other upgrades become raw byte pipes after the
101). Runs on one asyncio loop; `ProxyCore` state is only touched from that loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from reconciler.proxy.headers import request_headers, response_headers
from reconciler.proxy.http1 import (
    CHUNK,
    BadMessage,
    Framing,
    Head,
    copy_body,
    encode_head,
    parse_request,
    parse_response,
    read_head,
    read_response_head,
    request_framing,
    response_framing,
)
from reconciler.proxy.pages import json_response, page_response
from reconciler.proxy.paths import NormPath, PathRefused, normalise
from reconciler.proxy.pool import Conn, Pool
from reconciler.proxy.routing import Backend, Entry, Slot, Table

__all__ = ["ProxyCore"]

FIRST_HEAD_TIMEOUT = 30.0
KEEPALIVE_TIMEOUT = 75.0
UPSTREAM_HEAD_TIMEOUT = 300.0
SMALL_BODY = 16 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_NET_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadMessage,
               TimeoutError)


class _Upstream(Exception):
    """The upstream failed before anything was sent to the client (answered with 502)."""


class _Refused(_Upstream):
    """No connection to the upstream could be made (nothing of the request was sent)."""


class ProxyCore:
    def __init__(self, *, connect_timeout: float = 3.0,
                 status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.table = Table(())
        self.slots: dict[str, Slot] = {}
        self.pool = Pool(connect_timeout)
        self.status = status
        self.started = time.time()
        self.requests = 0
        self.ready = False  # no pass has told us the apps yet

    # -- client side ------------------------------------------------------------------------

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
        timeout = FIRST_HEAD_TIMEOUT
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        raw = await read_head(reader)
                except BadMessage as exc:
                    writer.write(page_response(400, "Bad request", [str(exc)], close=True))
                    break
                if raw is None:
                    break
                timeout = KEEPALIVE_TIMEOUT
                try:
                    head = parse_request(raw)
                    framing = request_framing(head)
                except BadMessage as exc:
                    writer.write(page_response(400, "Bad request", [str(exc)], close=True))
                    break
                self.requests += 1
                if not await self.one(reader, writer, head, framing, ip):
                    break
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
        if entry.redirect_bare and len(path.decoded) == len(entry.segs) and not path.trailing:
            status = 301 if method in ("GET", "HEAD") else 308
            loc = entry.prefix + "/" + path.query
            writer.write(page_response(status, "Moved", [loc], close=not keep, method=method,
                                       extra=[("Location", loc)]))
            return keep
        slot = self.slots.get(entry.app)
        backend = entry.external or (slot.pick() if slot else None)
        if backend is None:
            why = f"app {entry.app} ({entry.name}) is not running"
            err = slot.error if slot else ""
            writer.write(page_response(503, "App not running", [why, err], close=not keep,
                                       method=method, extra=[("Retry-After", "2")]))
            return keep
        tried: list[Backend] = []
        while True:
            current = backend
            current.inflight += 1
            try:
                return await self._forward(reader, writer, head, framing, ip, path, entry,
                                           current)
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

    @staticmethod
    def _bad_gateway(writer: asyncio.StreamWriter, entry: Entry, slot: Slot | None,
                     backend: Backend, exc: _Upstream, method: str) -> bool:
        err = slot.error if slot and entry.external is None else ""
        why = f"app {entry.app} ({entry.name}) did not answer at {backend.url}: {exc}"
        writer.write(page_response(502, "App not answering", [why, err], close=True,
                                   method=method))
        return False

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
                    backend: Backend, first: str, headers: list[tuple[str, str]]
                    ) -> tuple[Conn, Head]:
        """Send the request (streaming its body) and read the response head. Retried once on a
        fresh connection when nothing came back and no body was sent, if the connection was a
        reused one the upstream had closed meanwhile, or if the method is idempotent and the
        upstream closed or reset it without a byte (docker's port proxy accepts, then finds the
        container's backlog full); never after a timeout."""
        for attempt in (0, 1):
            try:
                conn = await self.pool.get(backend)
            except (OSError, TimeoutError) as exc:
                what = "connect timeout" if isinstance(exc, TimeoutError) else str(exc)
                raise _Refused(what or type(exc).__name__) from None
            try:
                conn.writer.write(encode_head(first, headers))
                if framing.kind != "none":
                    await copy_body(reader, conn.writer, framing, chunked_out=True)
                await conn.writer.drain()
                while True:
                    async with asyncio.timeout(UPSTREAM_HEAD_TIMEOUT):
                        raw = await read_response_head(conn.reader)
                    if raw is None:
                        raise ConnectionResetError("upstream closed the connection")
                    resp = parse_response(raw)
                    if resp.status == 101 or not 100 <= resp.status < 200:
                        return conn, resp
            except _NET_ERRORS as exc:
                conn.close()
                closed = isinstance(exc, ConnectionError)
                if attempt == 0 and framing.kind == "none" and (
                        conn.reused or (closed and head.method in IDEMPOTENT)):
                    continue
                raise _Upstream(str(exc) or type(exc).__name__) from None
        raise AssertionError("unreachable")

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       head: Head, framing: Framing, ip: str, path: NormPath, entry: Entry,
                       backend: Backend) -> bool:
        match = self.table.resolve(entry, path)
        public_host = head.get("host") or "127.0.0.1"
        upgrade = head.get("upgrade") if "upgrade" in head.tokens("connection") else None
        if framing.kind != "none" and "100-continue" in head.tokens("expect"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        hdrs = request_headers(head, backend=backend, match=match, client_ip=ip,
                               public_host=public_host, framing=framing, upgrade=upgrade)
        first = f"{head.method} {backend.base_path}{match.upstream_path} HTTP/1.1"
        conn, resp = await self._send(reader, head, framing, backend, first, hdrs)
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
            await _pipe(reader, writer, conn)
            return False
        rf = response_framing(resp, head.method)
        client11 = head.version == "HTTP/1.1"
        keep = client11 and "close" not in head.tokens("connection")
        chunked_out = False
        if rf.kind == "length":
            out.append(("Content-Length", str(rf.length)))
        elif rf.kind in ("chunked", "close"):
            if client11:
                out.append(("Transfer-Encoding", "chunked"))
                chunked_out = True
            else:
                keep = False
        elif head.method == "HEAD":
            out += [(k, v) for k, v in resp.headers if k.lower() == "content-length"]
        elif resp.status not in (204, 304):
            out.append(("Content-Length", "0"))
        if not keep:
            out.append(("Connection", "close"))
        first_line = encode_head(f"HTTP/1.1 {resp.status} {resp.reason}", out)
        try:
            if rf.kind == "length" and rf.length <= SMALL_BODY:  # one write for small answers
                writer.write(first_line + await conn.reader.readexactly(rf.length))
            else:
                writer.write(first_line)
                await copy_body(conn.reader, writer, rf, chunked_out=chunked_out)
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

    async def switch(self, app: str, new: Backend | None, drain: float) -> int:
        """Send the app's new requests to `new`; wait (at most `drain` s) for requests in
        flight on the previous backend to finish. Returns how many were still open."""
        slot = self.slots.setdefault(app, Slot(app))
        old = slot.backend
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


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: Conn) -> None:
    """Relay raw bytes both ways until either side closes."""

    async def one(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(*_NET_ERRORS):
            while True:
                data = await r.read(CHUNK)
                if not data:
                    break
                w.write(data)
                await w.drain()

    await writer.drain()
    tasks = [asyncio.ensure_future(one(reader, conn.writer)),
             asyncio.ensure_future(one(conn.reader, writer))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        conn.close()

