"""A two-way message channel between ace and a forked evaluation child: pickled values framed
by their length over a socket pair. It does what `multiprocessing.connection.Pipe` did here
without loading multiprocessing (and tempfile, subprocess, shutil with it) on every change."""

from __future__ import annotations

import pickle
import select
import socket
import struct
from typing import Any

__all__ = ["Channel", "channel_pair"]

_HEADER = struct.Struct("!Q")


class Channel:
    """One end of a channel. `recv` raises EOFError once the other end is closed."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, value: Any) -> None:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self._sock.sendall(_HEADER.pack(len(data)) + data)

    def _exactly(self, n: int) -> bytes:
        parts: list[bytes] = []
        while n:
            chunk = self._sock.recv(min(n, 1 << 20))
            if not chunk:
                raise EOFError("the other end of the channel closed")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def recv(self) -> Any:
        (size,) = _HEADER.unpack(self._exactly(_HEADER.size))
        return pickle.loads(self._exactly(size))

    def poll(self, timeout: float) -> bool:
        """Whether a message (or the other end's close) is ready within `timeout` seconds."""
        ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        return bool(ready)

    def close(self) -> None:
        self._sock.close()


def channel_pair() -> tuple[Channel, Channel]:
    """Both ends of a new channel; after a fork each side closes the end it does not use."""
    a, b = socket.socketpair()
    return Channel(a), Channel(b)
