"""The dashboard's server-sent event streams: the board's changes (`/_ace/events`) and an app's
log lines (`/_ace/logs?app=PATH`: its history, then what its containers and builds print, across
replaces). Each stream ends when the page goes away; a page that cannot keep up is cut off (the
browser reconnects and starts from a fresh snapshot)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

from apps.errors import EngineError
from reconciler.applogs.follow import LogSource, follow, history
from reconciler.applogs.lines import AppLine
from reconciler.dashboard.board import Board
from reconciler.dashboard.guard import SECURITY_HEADERS
from reconciler.proxy.http1 import encode_head

__all__ = ["board_stream", "log_stream"]

KEEPALIVE = 15.0
QUEUE = 5000
LOG_HISTORY = 200


def _head() -> bytes:
    return encode_head("HTTP/1.1 200 OK", [
        ("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-store"),
        ("X-Accel-Buffering", "no"), *SECURITY_HEADERS, ("Connection", "close")])


def _event(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                queue: asyncio.Queue[tuple[str, Any] | None]) -> None:
    """Write queued events until the client closes, the queue overflows (None), or an error."""
    gone = asyncio.ensure_future(reader.read(1))
    try:
        while True:
            get = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({get, gone}, timeout=KEEPALIVE,
                                         return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                get.cancel()
                return
            if get not in done:
                get.cancel()
                writer.write(b": keep-alive\n\n")
            else:
                item = get.result()
                if item is None:
                    return
                writer.write(_event(*item))
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        return
    finally:
        gone.cancel()


def _feeder(queue: asyncio.Queue[tuple[str, Any] | None]) -> Callable[[str, Any], None]:
    """A thread-safe `put(kind, data)` into the stream's queue."""
    loop = asyncio.get_running_loop()

    def put(item: tuple[str, Any]) -> None:
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(None)  # cut off: the page reconnects
            return
        queue.put_nowait(item)

    def feed(kind: str, data: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(put, (kind, data))

    return feed


async def board_stream(board: Board, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
    """The board's state now, then each change as it comes."""
    queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue(QUEUE)
    cancel = board.subscribe(_feeder(queue))
    try:
        writer.write(_head() + _event("state", board.state()))
        await writer.drain()
        await _pump(reader, writer, queue)
    finally:
        cancel()
    return False


async def log_stream(source: Callable[[], LogSource], app: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
    """The app's last lines, then what it prints, until the page goes away."""
    queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue(QUEUE)
    feed = _feeder(queue)
    stop = threading.Event()

    def line(x: AppLine) -> None:
        feed("line", x.to_json())

    def start() -> None:
        try:
            src = source()
            lines, marks = history(src, [app], tail=LOG_HISTORY)
            for x in lines:
                line(x)
            follow(src, [app], marks=marks, emit=line, note=lambda n: feed("note", n),
                   stop=stop)
        except EngineError as exc:
            feed("note", f"-- logs of {app} cannot be read: {exc}")

    writer.write(_head())
    try:
        await writer.drain()
        threading.Thread(target=start, daemon=True, name=f"ace-dashboard-logs-{app}").start()
        await _pump(reader, writer, queue)
    finally:
        stop.set()
    return False
