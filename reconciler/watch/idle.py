"""Idle shutdown and lazy start (`ace watch`/`ace serve --idle-shutdown S --lazy`), as pure
bookkeeping given `now`: the loop feeds it the proxy's traffic counters and what runs, and hands
the planner the apps to keep asleep (`DesiredState.idle`).

OpenRun's rule: an app is idle once no request reached it through the proxy for S seconds and
fewer than `BYTES_WATERMARK` bytes moved in that window (an open websocket that streams keeps
it up). Only apps the proxy can wake qualify: those with a route to their own container.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from apps.model import App

__all__ = ["BYTES_WATERMARK", "LAZY", "Activity", "idle_reason", "lazy_apps", "settle_activity",
           "timeouts", "wakeable"]

BYTES_WATERMARK = 1500  # bytes per window that count as activity (OpenRun's high watermark)
LAZY = "not started yet (lazy start)"
CONTAINER_URL = "<CONTAINER_URL>"

# (requests started, bytes moved both ways) through the proxy, per app, since it started
Traffic = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Activity:
    """When an app last counted as active, and the proxy's counters at that moment."""

    since: float
    requests: int
    bytes: int


def wakeable(apps: Iterable[App]) -> frozenset[str]:
    """Service apps with a route to their own container: a request there can wake them."""
    return frozenset(a.path for a in apps
                     if a.container is not None and a.container.lifetime != "command"
                     and any(r.url == CONTAINER_URL for r in a.routes))


def timeouts(apps: Iterable[App], default: float) -> dict[str, float]:
    """app -> seconds without traffic before it sleeps, for the apps that may: the app's own
    app_config value (0: never), else `default` (0: idle shutdown off)."""
    out: dict[str, float] = {}
    for a in apps:
        s = a.entry.idle_shutdown if a.entry.idle_shutdown is not None else default
        if s > 0:
            out[a.path] = s
    return out


def settle_activity(activity: Mapping[str, Activity], traffic: Mapping[str, Traffic],
                    running: Iterable[str], now: float) -> dict[str, Activity]:
    """The activity of the running apps after a look at the counters: a new request, or at
    least BYTES_WATERMARK bytes since the last mark, makes `now` the app's last activity; an
    app seen running for the first time (started, woken) counts as active now."""
    out: dict[str, Activity] = {}
    for app in running:
        requests, moved = traffic.get(app, (0, 0))
        prev = activity.get(app)
        if (prev is None or requests != prev.requests
                or moved - prev.bytes >= BYTES_WATERMARK or moved < prev.bytes):
            out[app] = Activity(now, requests, moved)
        else:
            out[app] = prev
    return out


def idle_reason(activity: Mapping[str, Activity], limits: Mapping[str, float], now: float
                ) -> dict[str, str]:
    """app -> why it goes to sleep, for the running apps idle for their limit."""
    return {app: f"no request for {limits[app]:g} s"
            for app, a in activity.items()
            if app in limits and now - a.since >= limits[app]}


def lazy_apps(candidates: Iterable[str], running: Iterable[str], started: Iterable[str]
              ) -> dict[str, str]:
    """Apps not to start before their first request: wakeable ones with nothing running that
    this loop has not started yet."""
    skip = set(running) | set(started)
    return {app: LAZY for app in candidates if app not in skip}
