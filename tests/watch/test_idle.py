"""Idle shutdown and lazy start bookkeeping (pure): OpenRun's rule on the proxy's counters."""

from __future__ import annotations

from typing import Literal

from apps.model import App, AppEntry, ContainerConfig, Route
from reconciler.watch.idle import (
    BYTES_WATERMARK,
    LAZY,
    Activity,
    idle_reason,
    lazy_apps,
    settle_activity,
    timeouts,
    wakeable,
)


def _app(path: str, *, route: str = "<CONTAINER_URL>", idle: float | None = None,
         lifetime: Literal["app", "command"] = "app") -> App:
    cfg = ContainerConfig(kind="image", image="busybox", source_dir="", containerfile="",
                          build_dir="", port=8080, lifetime=lifetime)
    return App(AppEntry(path, "-", idle_shutdown=idle), "x", (), routes=(Route("/", route),),
               container=cfg)


def test_only_apps_the_proxy_reaches_can_sleep() -> None:
    """A route to the app's own container makes it wakeable; an external route, no route or
    a command app does not; the app's own setting wins over the loop's, 0 never sleeps."""
    apps = [_app("/web"), _app("/ext", route="http://example.com"),
            _app("/cmd", lifetime="command"), _app("/never", idle=0), _app("/quick", idle=5)]
    assert wakeable(apps) == frozenset({"/web", "/never", "/quick"})
    assert timeouts(apps, 60) == {"/web": 60, "/ext": 60, "/cmd": 60, "/quick": 5}
    assert timeouts(apps, 0) == {"/quick": 5}


def test_idle_after_the_timeout_without_requests() -> None:
    """An app seen running counts as active then; with no request for S seconds it is idle."""
    act = settle_activity({}, {}, ["/web"], now=100.0)
    assert act == {"/web": Activity(100.0, 0, 0)}
    act = settle_activity(act, {"/web": (0, 0)}, ["/web"], now=129.0)
    assert idle_reason(act, {"/web": 30.0}, 129.0) == {}
    assert idle_reason(act, {"/web": 30.0}, 130.0) == {"/web": "no request for 30 s"}


def test_a_request_or_enough_bytes_keep_it_up() -> None:
    """A new request, or BYTES_WATERMARK bytes since the last mark (a streaming websocket),
    makes now the last activity; a trickle under it does not."""
    act = {"/web": Activity(0.0, 1, 100)}
    act = settle_activity(act, {"/web": (2, 100)}, ["/web"], now=10.0)
    assert act["/web"] == Activity(10.0, 2, 100)
    act = settle_activity(act, {"/web": (2, 100 + BYTES_WATERMARK - 1)}, ["/web"], now=20.0)
    assert act["/web"].since == 10.0
    act = settle_activity(act, {"/web": (2, 100 + BYTES_WATERMARK)}, ["/web"], now=30.0)
    assert act["/web"] == Activity(30.0, 2, 100 + BYTES_WATERMARK)
    assert settle_activity(act, {}, [], now=40.0) == {}, "apps not running are forgotten"


def test_lazy_apps_are_those_not_started_yet() -> None:
    """Lazy start holds the wakeable apps with nothing running that this loop did not start."""
    assert lazy_apps(["/a", "/b", "/c"], running=["/b"], started=["/c"]) == {"/a": LAZY}
