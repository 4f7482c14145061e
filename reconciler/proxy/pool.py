"""Upstream connections: opened with a connect timeout, kept alive and reused per backend."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from reconciler.proxy.routing import Backend

__all__ = ["Conn", "Pool"]

_MAX_IDLE = 64


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
        self._idle: dict[tuple[str, str, int], list[Conn]] = {}
        self._tls: ssl.SSLContext | None = None

    @staticmethod
    def key(b: Backend) -> tuple[str, str, int]:
        return (b.scheme, b.host, b.port)

    async def get(self, b: Backend) -> Conn:
        key = self.key(b)
        idle = self._idle.get(key)
        while idle:
            c = idle.pop()
            if not c.reader.at_eof() and not c.writer.is_closing():
                c.reused = True
                return c
            c.close()
        tls = None
        if b.scheme == "https":
            tls = self._tls = self._tls or ssl.create_default_context()
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(b.host, b.port, ssl=tls,
                                                           limit=64 * 1024)
        return Conn(key, reader, writer)

    def put(self, c: Conn) -> None:
        idle = self._idle.setdefault(c.key, [])
        if len(idle) >= _MAX_IDLE or c.reader.at_eof():
            c.close()
        else:
            idle.append(c)

    def close_idle(self, b: Backend | None = None) -> None:
        keys = list(self._idle) if b is None else [self.key(b)]
        for k in keys:
            for c in self._idle.pop(k, []):
                c.close()
