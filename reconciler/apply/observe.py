"""Observe: the engine's truth for one pass, read once (a sparse container listing, and the
images it leaves open), plus the health marks a caller hands to the planner."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace

from reconciler.core.types import DesiredState, ObservedContainer, ObservedState
from reconciler.driver.ports import Engine

__all__ = ["EarlyListing", "observe", "with_health"]


class EarlyListing:
    """The container listing, read on a thread of its own from the start of a pass: it does not
    depend on the desired state, so it overlaps the evaluation instead of following it. `get`
    waits for it, and raises what the listing raised."""

    def __init__(self, engine: Engine, install: str) -> None:
        self._containers: tuple[ObservedContainer, ...] = ()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._list, args=(engine, install),
                                        name="ace-listing", daemon=True)
        self._thread.start()

    def _list(self, engine: Engine, install: str) -> None:
        try:
            self._containers = engine.list_containers(install)
        except BaseException as e:  # noqa: BLE001 - handed to the pass by get()
            self._error = e

    def get(self) -> tuple[ObservedContainer, ...]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._containers


def observe(engine: Engine, install: str, desired: DesiredState | None = None,
            early: EarlyListing | None = None) -> ObservedState:
    """One sparse container listing, and the images it leaves open.

    Containers of `ace run` commands carry no version label: they are transient and never
    planned for. Without `desired`, every image is listed (status, drift). With it, an app whose
    container of the desired version runs under its image's name vouches for that image; only
    the other apps' images are listed, filtered by the engine — none at all when everything
    runs, so a no-op pass is a single listing call. `early`: the listing, already asked for."""
    listed = early.get() if early is not None else engine.list_containers(install)
    containers = tuple(c for c in listed if c.version)
    if desired is None:
        return ObservedState(containers, engine.list_images())
    running = {(c.app, c.version, c.image) for c in containers if c.state == "running"}
    vouched = frozenset(a.image for a in desired.apps
                        if a.service and (a.path, a.version, a.image) in running)
    needed = sorted({a.image for a in desired.apps} - vouched)
    images = engine.list_images(needed) if needed else ()
    return ObservedState(containers, images, vouched)


def with_health(observed: ObservedState, marks: Mapping[str, str]) -> ObservedState:
    """The observed state with health marks (container id -> "unhealthy: detail", from
    `ace watch`'s probes) written onto the containers: the planner replaces marked ones."""
    if not marks:
        return observed
    containers = tuple(replace(c, health=marks[c.id]) if c.id in marks else c
                       for c in observed.containers)
    return replace(observed, containers=containers)
