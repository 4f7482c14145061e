"""Upstream connections: opened with a connect timeout, kept alive and reused per address.

A container backend is tried at its network address first (see `Backend.direct`). When that
times out or the network is unreachable, the host cannot reach container networks at all: the
pool stops trying them (`direct_broken`) and uses published ports from then on. Once a direct
connection worked, the network is known reachable: a direct connect then gets the whole connect
timeout (a container under load drops SYNs; the retry a second later gets in) and its timeout is
the request's. A refused connection only means that container is not listening (yet): that
request tries the published port, and direct connections stay on.

A fresh connection's first response head is collected by its protocol as the bytes arrive
(`_Upstream`) and handed over whole: one wake-up instead of a read per line. What follows the
head, and everything on a reused connection, goes through the connection's StreamReader."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl

from reconciler.proxy.http1 import MAX_HEAD, BadMessage, read_response_head
from reconciler.proxy.routing import Backend

__all__ = ["Conn", "Pool"]

_MAX_IDLE = 64
DIRECT_TIMEOUT = 0.5  # a container network answers in microseconds when it is reachable
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM})


class _Upstream(asyncio.StreamReaderProtocol):
    """A StreamReaderProtocol that first collects one response head itself: the bytes up to
    the first empty line (CRLF or bare LF ends, blank lines before the status line skipped, at
    most MAX_HEAD bytes), given to `first` as `http1.read_response_head` would return them
    (None on EOF before any byte); the rest, and all later bytes, go to the StreamReader."""

    def __init__(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(reader, loop=loop)
        self.first: asyncio.Future[bytes | None] = loop.create_future()
        self._head: bytearray | None = bytearray()  # None once the head was handed over
        self._seen = 0  # bytes of the head collected, leading blank lines included

    def data_received(self, data: bytes) -> None:
        buf = self._head
        if buf is None:
            super().data_received(data)
            return
        self._seen += len(data)
        buf += data
        while buf[:1] == b"\n" or buf[:2] == b"\r\n":  # blank lines before the status line
            del buf[:1 if buf[:1] == b"\n" else 2]
        ends = [i for i in (buf.find(b"\n\n"), buf.find(b"\n\r\n")) if i >= 0]
        if not ends:
            if self._seen > MAX_HEAD:
                self._give(BadMessage(f"message head larger than {MAX_HEAD} bytes"))
            return
        end = min(ends) + 1  # just after the last header line's LF
        blank = 1 if buf[end:end + 1] == b"\n" else 2
        rest = bytes(buf[end + blank:])
        if self._seen - len(rest) > MAX_HEAD:
            self._give(BadMessage(f"message head larger than {MAX_HEAD} bytes"))
            return
        self._give(bytes(buf[:end]))
        if rest:
            super().data_received(rest)

    def _give(self, result: bytes | None | Exception) -> None:
        self._head = None
        if self.first.done():  # the request gave up waiting (timeout, cancel)
            return
        if isinstance(result, Exception):
            self.first.set_exception(result)
        else:
            self.first.set_result(result)

    def _ended(self) -> None:
        if self._head is not None:
            if self._head.strip():
                self._give(BadMessage("connection closed in the middle of a message head"))
            else:
                self._give(None)

    def eof_received(self) -> bool:
        self._ended()
        return bool(super().eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self._head is not None:
            self._give(exc)
        self._ended()
        super().connection_lost(exc)


class Conn:
    __slots__ = ("key", "proto", "reader", "reused", "writer")

    def __init__(self, key: tuple[str, str, int], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, reused: bool = False,
                 proto: _Upstream | None = None) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.reused = reused
        self.proto = proto  # a fresh connection's, until its first response head was read

    async def read_head(self) -> bytes | None:
        """The next response head (as `http1.read_response_head`)."""
        proto, self.proto = self.proto, None
        if proto is not None:
            return await proto.first
        return await read_response_head(self.reader)

    def close(self) -> None:
        proto, self.proto = self.proto, None
        if proto is not None:  # its head will not be read: no "exception never retrieved"
            if not proto.first.done():
                proto.first.cancel()
            elif not proto.first.cancelled():
                proto.first.exception()
        with contextlib.suppress(Exception):
            self.writer.close()


class Pool:
    def __init__(self, connect_timeout: float = 3.0) -> None:
        self.connect_timeout = connect_timeout
        self.direct_broken = False
        self.direct_worked = False
        self._idle: dict[tuple[str, str, int], list[Conn]] = {}
        self._tls: ssl.SSLContext | None = None

    @staticmethod
    def key(b: Backend) -> tuple[str, str, int]:
        return (b.scheme, b.host, b.port)

    def _keys(self, b: Backend) -> list[tuple[str, str, int]]:
        keys = [self.key(b)]
        if b.direct is not None:
            keys.append((b.scheme, *b.direct))
        return keys

    async def get(self, b: Backend) -> Conn:
        if b.direct is not None and not self.direct_broken:
            key = (b.scheme, *b.direct)
            idle = self._reuse(key)
            if idle is not None:
                return idle
            worked = self.direct_worked
            timeout = self.connect_timeout if worked else min(self.connect_timeout,
                                                              DIRECT_TIMEOUT)
            try:
                conn = await self._open(key, None, timeout)
            except TimeoutError:
                if worked:
                    raise  # a container too busy to accept: the forwarder would not help
                self.direct_broken = True
            except OSError as exc:
                if exc.errno in _UNREACHABLE and not worked:
                    self.direct_broken = True
            else:
                self.direct_worked = True
                return conn
        key = self.key(b)
        idle = self._reuse(key)
        if idle is not None:
            return idle
        tls = None
        if b.scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        return await self._open(key, tls, self.connect_timeout)

    def _reuse(self, key: tuple[str, str, int]) -> Conn | None:
        idle = self._idle.get(key)
        while idle:
            c = idle.pop()
            if not c.reader.at_eof() and not c.writer.is_closing():
                c.reused = True
                return c
            c.close()
        return None

    @staticmethod
    async def _open(key: tuple[str, str, int], tls: ssl.SSLContext | None,
                    timeout: float) -> Conn:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 * 1024, loop=loop)
        proto = _Upstream(reader, loop)
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(lambda: proto, key[1], key[2], ssl=tls)
        return Conn(key, reader, asyncio.StreamWriter(transport, proto, reader, loop),
                    proto=proto)

    def put(self, c: Conn) -> None:
        idle = self._idle.setdefault(c.key, [])
        if len(idle) >= _MAX_IDLE or c.reader.at_eof():
            c.close()
        else:
            idle.append(c)

    def close_idle(self, b: Backend | None = None) -> None:
        keys = list(self._idle) if b is None else self._keys(b)
        for k in keys:
            for c in self._idle.pop(k, []):
                c.close()
