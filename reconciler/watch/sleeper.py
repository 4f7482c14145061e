"""The watch loop's sleeping apps: which apps are kept asleep (idle shutdown, lazy start), which
a request asked to wake, and the store's record of both (so `ace status`, `ace drift` and
`ace reconcile` see an idle app as idle, and a restarted loop keeps it asleep).

Everything runs on the loop's thread except `ask`, which the proxy calls from its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from apps.model import App
from reconciler.core.types import ObservedState, Pairs
from reconciler.logs import get_logger
from reconciler.watch.idle import (
    LAZY,
    Activity,
    idle_reason,
    lazy_apps,
    settle_activity,
    timeouts,
    wakeable,
)
from state import Store

__all__ = ["LAZY", "SleepOptions", "Sleeper", "running_apps"]

log = get_logger("ace.watch")

TrafficFn = Callable[[], Mapping[str, tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class SleepOptions:
    idle_shutdown: float = 0.0  # seconds without traffic before an app sleeps (0: off)
    lazy: bool = False  # apps start on their first request
    enabled: bool = False  # a proxy runs that can wake apps (else nothing is kept asleep)
    traffic: TrafficFn | None = None  # the proxy's counters: app -> (requests, bytes)
    on_sleep: Callable[[Sequence[str]], None] | None = None  # the proxy: park these apps


def running_apps(observed: ObservedState) -> frozenset[str]:
    return frozenset(c.app for c in observed.containers if c.state == "running" and c.version)


class Sleeper:
    def __init__(self, options: SleepOptions, clock: Callable[[], float]) -> None:
        self.options = options
        self.clock = clock
        self.idle: dict[str, str] = {}  # app -> why it is asleep
        self.activity: dict[str, Activity] = {}
        self.started: set[str] = set()  # apps this loop saw running (lazy start is done)
        self.waking: frozenset[str] = frozenset()  # apps the current pass starts for a request
        self.started_now: frozenset[str] = frozenset()  # of those, the ones that started
        self._asked: set[str] = set()
        self._lock = threading.Lock()
        self._loaded = False

    # -- the proxy's side -------------------------------------------------------------------

    def ask(self, app: str) -> None:
        """A request waits for `app`: the next pass starts it."""
        with self._lock:
            self._asked.add(app)

    @property
    def asked(self) -> bool:
        with self._lock:
            return bool(self._asked)

    # -- the loop's side --------------------------------------------------------------------

    def before_pass(self, store: Store, apps: Sequence[App],
                    running: Callable[[], frozenset[str]]) -> tuple[Pairs, frozenset[str]]:
        """The apps to keep asleep (with why) and those to wake, for the pass about to run.
        `running()` tells which apps have a running container (the last observation)."""
        now = self.clock()
        eligible = wakeable(apps) if self.options.enabled else frozenset()
        limits = {a: s for a, s in timeouts(apps, self.options.idle_shutdown).items()
                  if a in eligible}
        watching = self.options.lazy or bool(limits)
        up = running() if watching else frozenset()  # may raise (engine down): nothing lost
        if not self._loaded:  # asleep when the last loop ended, unless started since
            records = store.idle_apps()
            self.idle = {a.app: a.reason for a in records if a.app not in up}
            if len(self.idle) < len(records):
                store.clear_idle(a.app for a in records if a.app in up)
            self._loaded = True
        with self._lock:
            asked, self._asked = frozenset(self._asked), set()
        woken = asked & self.idle.keys()
        keep = eligible if self.options.lazy else frozenset(limits)
        dropped = {a for a in self.idle if a in woken or a not in keep}
        for app in dropped:
            del self.idle[app]
        new: dict[str, str] = {}
        if watching:
            if self.options.lazy:
                new |= lazy_apps(eligible - self.idle.keys() - woken, up, self.started)
            traffic = self.options.traffic() if self.options.traffic is not None else {}
            awake = up - self.idle.keys() - woken
            self.activity = settle_activity(self.activity, traffic, awake, now)
            new |= {a: why for a, why in idle_reason(self.activity, limits, now).items()
                    if a not in new}
            for app in new:
                self.activity.pop(app, None)
            if self.options.on_sleep is not None and new.keys() & up:
                self.options.on_sleep(sorted(new.keys() & up))
        self.idle.update(new)
        if dropped:
            store.clear_idle(dropped)
        if new:
            store.set_idle(new)
            for app, why in sorted(new.items()):
                log.info("app_idle", app=app, reason=why)
        self.waking = woken
        return tuple(sorted(self.idle.items())), woken

    def after_pass(self, store: Store, running: frozenset[str], failed: Mapping[str, str]
                   ) -> None:
        """Book the pass: apps seen running are started; an app woken for a request that did
        not start goes back to sleep (a later request tries again, crash backoff allowing)."""
        self.started |= running
        self.started_now = self.waking & running
        back = {app: f"woken for a request, failed to start: {_first_line(failed.get(app, ''))}"
                for app in self.waking if app not in running}
        if back:
            self.idle.update(back)
            store.set_idle(back)
        self.waking = frozenset()


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return line if len(line) <= 160 else line[:159] + "…"

