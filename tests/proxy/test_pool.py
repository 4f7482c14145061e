"""A fresh upstream connection's first response head, collected by its protocol as the bytes
arrive, is the same as reading it line by line from a StreamReader, however the bytes are split."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.proxy.http1 import MAX_HEAD, BadMessage, read_response_head
from reconciler.proxy.pool import _Upstream

HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nbody",  # bare LF (busybox CGI)
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\n\nbody",  # mixed
    b"\r\n\nHTTP/1.1 204 No Content\r\n\r\n",  # blank lines before the status line
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: b\r\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\n",  # closed in the middle of the head
    b"\r\n",  # closed before any byte (but a blank line)
    b"",
]


def _via_protocol(data: bytes, cuts: list[int]) -> tuple[object, bytes]:
    """(first head or the exception, what the StreamReader got after it) when `data` arrives
    in pieces cut at `cuts`, then EOF."""

    async def run() -> tuple[object, bytes]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024, loop=loop)
        proto = _Upstream(reader, loop)
        edges = [0, *cuts, len(data)]
        for a, b in zip(edges, edges[1:], strict=False):
            if b > a:
                proto.data_received(data[a:b])
        proto.eof_received()
        try:
            head: object = await proto.first
        except BadMessage as exc:
            head = exc
        return head, await reader.read()

    return asyncio.run(run())


def _via_reader(data: bytes) -> tuple[object, bytes]:
    async def run() -> tuple[object, bytes]:
        reader = asyncio.StreamReader(limit=64 * 1024)
        reader.feed_data(data)
        reader.feed_eof()
        try:
            head: object = await read_response_head(reader)
        except BadMessage as exc:
            head = exc
        return head, await reader.read()

    return asyncio.run(run())


def _same(a: object, b: object) -> bool:
    if isinstance(a, BadMessage) or isinstance(b, BadMessage):
        return type(a) is type(b) and str(a) == str(b)
    return a == b


@pytest.mark.parametrize("data", HEADS)
def test_first_head_same_as_line_by_line_at_every_split(data: bytes) -> None:
    """The protocol's head (and the bytes left for the reader) equal the line-by-line reading,
    whether the bytes come at once, byte by byte, or split in two anywhere."""
    want_head, want_rest = _via_reader(data)
    splits = [[], list(range(1, len(data)))] + [[i] for i in range(1, len(data))]
    for cuts in splits:
        head, rest = _via_protocol(data, cuts)
        assert _same(head, want_head), (cuts, head, want_head)
        assert rest == want_rest, (cuts, rest, want_rest)


def test_oversized_head_refused_before_its_end() -> None:
    """A head that grows past MAX_HEAD without an empty line is refused without waiting."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        proto = _Upstream(asyncio.StreamReader(loop=loop), loop)
        proto.data_received(b"HTTP/1.1 200 OK\r\n")
        for _ in range(MAX_HEAD // 1000 + 1):
            proto.data_received(b"X: " + b"a" * 995 + b"\r\n")
        with pytest.raises(BadMessage, match="larger than"):
            await asyncio.wait_for(proto.first, 1)

    asyncio.run(run())


def test_reset_before_the_head_is_the_connection_error() -> None:
    """A connection reset before the head arrived raises the reset, as the reader would."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        proto = _Upstream(asyncio.StreamReader(loop=loop), loop)
        proto.data_received(b"HTTP/1.1 200")
        proto.connection_lost(ConnectionResetError("reset by peer"))
        with pytest.raises(ConnectionResetError):
            await proto.first

    asyncio.run(run())
