"""Waking a sleeping app for a request, and counting each app's traffic for idle shutdown.

Runs on the proxy's event loop. The first request to an app that sleeps asks the watch loop to
start it (`wake(app)`, thread-safe, returns at once); it and every request that comes meanwhile
wait on the slot's `woken` event, which is set when the app's new container serves (`release`
from a switch) or the pass that was to start it ended without (`release` from an update)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from reconciler.proxy.routing import Slot

__all__ = ["WAKE_LIMIT", "Counter", "WakeFn", "release", "wait_awake"]

WAKE_LIMIT = 75.0  # seconds a request waits for a cold start (the health timeout, and some)

# wake(app) -> "" when a pass will start it, else why not (its last starts failed: backing off)
WakeFn = Callable[[str], str]


class Counter:
    """An app's traffic through the proxy: requests started and bytes moved (both ways). Only
    the event loop writes; the watch loop reads a snapshot (plain ints: no lock needed)."""

    __slots__ = ("bytes", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    def add(self, n: int) -> None:
        self.bytes += n


async def wait_awake(slot: Slot, wake: WakeFn | None, limit: float) -> str:
    """Wake the slot's app (once for all the requests waiting) and wait until it serves;
    returns "" then, or why the request cannot be served."""
    if slot.woken is None:
        if wake is None:
            return f"app {slot.app} is asleep and nothing here can start it"
        refused = wake(slot.app)
        if refused:
            return refused
        slot.woken = asyncio.Event()
    try:
        await asyncio.wait_for(slot.woken.wait(), limit)
    except TimeoutError:
        return f"app {slot.app} did not start within {limit:g} s; try again shortly"
    return ""


def release(slot: Slot) -> None:
    """The wake is over (the app serves, or the pass could not start it): the waiting requests
    go on."""
    slot.asleep = False
    if slot.woken is not None:
        slot.woken.set()
        slot.woken = None
