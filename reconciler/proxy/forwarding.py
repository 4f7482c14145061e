"""The parts of forwarding one request around `ProxyCore`: the upstream's failures (502, 504)
and the client's (400), the client's response head, `Expect: 100-continue` and the first chunk
size, and the raw byte pipe of an upgraded connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from reconciler.proxy.http1 import (
    CHUNK,
    BadMessage,
    Framing,
    Head,
    encode_head,
    read_chunk_size,
    response_framing,
)
from reconciler.proxy.pages import page_response
from reconciler.proxy.pool import Conn

__all__ = ["IDEMPOTENT", "response_start"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_NET_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadMessage,
               TimeoutError)


class _Upstream(Exception):
    """The upstream failed before anything was sent to the client (answered with 502)."""


class _Refused(_Upstream):
    """No connection to the upstream could be made (nothing of the request was sent)."""


class _UpstreamTimeout(_Upstream):
    """The upstream took the request but sent no response head in time (answered with 504)."""


class _BadRequest(Exception):
    """The client's body framing is broken (a chunk size line): answered with 400."""


def response_start(head: Head, resp: Head, out: list[tuple[str, str]]
                   ) -> tuple[bytes, bool, bool, Framing]:
    """The response head for the client (`out`, the response's headers after the header
    rules, gets the framing headers), whether the client connection may carry another request,
    whether the body goes to the client chunked, and how the upstream frames it."""
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
    return encode_head(f"HTTP/1.1 {resp.status} {resp.reason}", out), keep, chunked_out, rf


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: Conn,
                count: Callable[[int], None] | None = None) -> None:
    """Relay raw bytes both ways until either side closes (`count` hears of each piece)."""

    async def one(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(*_NET_ERRORS):
            while True:
                data = await r.read(CHUNK)
                if not data:
                    break
                if count is not None:
                    count(len(data))
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


async def _body_start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: Head,
                      framing: Framing) -> int | None:
    """Answer `Expect: 100-continue` and read a chunked body's first chunk size (a broken one
    is refused before anything is forwarded); returns that size."""
    if framing.kind != "none" and "100-continue" in head.tokens("expect"):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if framing.kind != "chunked":
        return None
    try:
        return await read_chunk_size(reader)
    except BadMessage as exc:
        raise _BadRequest(str(exc)) from None


def _bad_request(writer: asyncio.StreamWriter, exc: _BadRequest, method: str) -> bool:
    writer.write(page_response(400, "Bad request", [str(exc)], close=True, method=method))
    return False
