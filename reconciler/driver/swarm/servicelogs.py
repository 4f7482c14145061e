"""A service's logs on a cluster: every task's output, as text or as timed lines."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.driver.sdk import sdk_log_lines
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
    """The service's logs (every task's), timed, stdout told from stderr: the engine answers
    `/services/{id}/logs` with the framed stream of a container's logs (raw text for a TTY
    service), read by the same code (`sdk_log_lines`), so a `stop` ends a quiet follow too.
    Lines before `since` are dropped here as well."""
    if since > 0:
        wanted = on_line

        def on_line(line: LogLine) -> None:
            if line.time >= since - 1e-6:
                wanted(line)

    sdk_log_lines(engine.api, "/services/{0}/logs", container_id, tail=tail, since=since,
                  follow=follow, on_line=on_line, stop=stop)
