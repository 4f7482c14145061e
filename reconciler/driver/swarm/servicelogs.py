"""A service's logs on a cluster: every task's output, as text or as timed lines."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING

from reconciler.driver.commands import stream_text
from reconciler.driver.logstream import split_timestamp
from reconciler.driver.sdkerrors import translated
from reconciler.driver.values import LogLine

if TYPE_CHECKING:
    from reconciler.driver.swarm.parts import SwarmParts

__all__ = ["service_log_lines", "service_logs"]


def service_logs(engine: SwarmParts, container_id: str, *, tail: int) -> str:
    """The last `tail` lines of every task's stdout and stderr."""
    with translated(f"read logs of service {container_id}"):
        chunks = engine.api.service_logs(container_id, stdout=True, stderr=True, tail=tail)
        return b"".join(chunks).decode("utf-8", "replace")


def service_log_lines(engine: SwarmParts, container_id: str, *, tail: int, since: float,
                      follow: bool, on_line: Callable[[LogLine], None],
                      stop: threading.Event | None) -> None:
    """The service's logs (every task's), timed; stdout and stderr come as one ("output"),
    `since` to the whole second as the service log API takes it, finer here."""
    pending = [""]

    class _Stopped(Exception):
        pass

    def text(chunk: str) -> None:
        pending[0] += chunk
        *whole, pending[0] = pending[0].split("\n")
        for raw in whole:
            t, body = split_timestamp(raw.rstrip("\r"))
            if t >= since - 1e-6 or not since:
                on_line(LogLine("output", t, body))
        if stop is not None and stop.is_set():
            raise _Stopped

    with translated(f"read logs of service {container_id}"), suppress(_Stopped):
        stream_text(engine.api.service_logs(
            container_id, stdout=True, stderr=True, follow=follow, timestamps=True,
            tail="all" if tail < 0 else tail, since=int(since) if since > 0 else None),
            text)
        if pending[0]:
            t, body = split_timestamp(pending[0])
            on_line(LogLine("output", t, body))
