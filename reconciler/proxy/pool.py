"""Upstream connections: opened with a connect timeout, kept alive and reused per address.

A container backend is tried at its network address first (see `Backend.direct`). When that
times out or the network is unreachable, the host cannot reach container networks at all: the
pool stops trying them (`direct_broken`) and uses published ports from then on. Once a direct
connection worked, the network is known reachable: a direct connect then gets the whole connect
timeout (a container under load drops SYNs; the retry a second later gets in) and its timeout is
the request's. A refused connection only means that container is not listening (yet): that
request tries the published port, and direct connections stay on."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl

from reconciler.proxy.routing import Backend

__all__ = ["Conn", "Pool"]

_MAX_IDLE = 64
DIRECT_TIMEOUT = 0.5  # a container network answers in microseconds when it is reachable
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM})


class Conn:
    __slots__ = ("key", "reader", "reused", "writer")

    def __init__(self, key: tuple[str, str, int], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, reused: bool = False) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.reused = reused

    def close(self) -> None:
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
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(key[1], key[2], ssl=tls,
                                                           limit=64 * 1024)
        return Conn(key, reader, writer)

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
