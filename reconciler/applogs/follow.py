"""Apps' logs from the engine and the build log files: the history (`history`), then the lines
that come after it (`follow`).

A replace (by `ace watch` or a reconcile) starts a new container and removes the old one, so
following one container would go quiet at the first edit. `follow` follows each *app*: when a
container's stream ends (it stopped or was removed) it waits for the app's next running
container and goes on with it from its first line (a restarted one from where it left off),
and it reads the app's build log as a build writes it. Each app is followed by threads that end
when `stop` is set; with no apps named, apps that appear later are followed too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from apps.errors import EngineError
from reconciler.applogs.buildlogs import BuildLogTail, build_log_apps, read_build_log
from reconciler.applogs.lines import AppLine
from reconciler.core.types import ObservedContainer, current_container
from reconciler.driver.ports import Engine, LogLine

__all__ = ["LogSource", "follow", "history", "list_apps"]

Emit = Callable[[AppLine], None]
Note = Callable[[str], None]
DISCOVER_EVERY = 2.0  # seconds between looks for new apps when following all


@dataclass(frozen=True, slots=True)
class LogSource:
    """Where an installation's logs are: its engine, installation id and state dir."""

    engine: Engine
    install: str
    state_dir: Path


def list_apps(src: LogSource, containers: Sequence[ObservedContainer] | None = None
              ) -> list[str]:
    """Apps with a container or a build log."""
    seen = containers if containers is not None else src.engine.list_containers(src.install)
    return sorted({c.app for c in seen if c.app} | set(build_log_apps(src.state_dir)))


def history(src: LogSource, apps: Sequence[str], *, tail: int, since: float = 0.0
            ) -> tuple[list[AppLine], dict[str, float]]:
    """Each app's last `tail` lines (-1: all; its current container's and its last build's,
    since `since`), merged by time; and per container, the time up to which it was read (what
    `follow` starts after)."""
    containers = src.engine.list_containers(src.install)
    cut = time.time()
    merged: list[AppLine] = []
    marks: dict[str, float] = {}
    for app in apps:
        lines = [x for x in read_build_log(src.state_dir, app) if x.time >= since]
        c = current_container(containers, app)
        if c is not None:
            got: list[LogLine] = []
            src.engine.log_lines(c.id, tail=tail, since=since, on_line=got.append)
            lines += [AppLine(app, c.name, x.stream, x.time, x.text) for x in got]
        lines.sort(key=lambda x: x.time)
        lines = lines[-tail:] if tail > 0 else lines if tail < 0 else []
        if c is not None:
            marks[c.id] = max([x.time for x in lines if x.container == c.name], default=cut)
        merged += lines
    merged.sort(key=lambda x: x.time)
    return merged, marks


def follow(src: LogSource, apps: Sequence[str] | None, *, marks: dict[str, float], emit: Emit,
           note: Note, stop: threading.Event, poll: float = 0.5,
           sleep: Callable[[float], None] | None = None) -> list[threading.Thread]:
    """Start following `apps` (None: every app, including those that appear later) after the
    `marks` of `history`; returns the started (daemon) threads. Lines go to `emit`, notes
    (a new container, waiting, the engine away) to `note`, from the threads."""
    wait = sleep or (lambda s: stop.wait(s))
    threads: list[threading.Thread] = []
    lock = threading.Lock()
    followed: set[str] = set()

    def start(app: str) -> None:
        with lock:
            if app in followed:
                return
            followed.add(app)
        for target, name in ((_containers, "logs"), (_builds, "build")):
            t = threading.Thread(target=target, args=(src, app, marks, emit, note, stop, poll,
                                                      wait),
                                 daemon=True, name=f"ace-{name}-{app}")
            threads.append(t)
            t.start()

    for app in apps if apps is not None else list_apps(src):
        start(app)
    if apps is None:
        def discover() -> None:
            while not stop.wait(DISCOVER_EVERY):
                try:
                    for app in list_apps(src):
                        start(app)
                except EngineError:
                    continue
        t = threading.Thread(target=discover, daemon=True, name="ace-logs-discover")
        threads.append(t)
        t.start()
    return threads


def _builds(src: LogSource, app: str, marks: dict[str, float], emit: Emit, note: Note,
            stop: threading.Event, poll: float, wait: Callable[[float], object]) -> None:
    tail = BuildLogTail(src.state_dir, app)
    while not stop.is_set():
        for line in tail.poll():
            emit(line)
        stop.wait(min(poll, 0.25))


def _containers(src: LogSource, app: str, marks: dict[str, float], emit: Emit, note: Note,
                stop: threading.Event, poll: float, wait: Callable[[float], object]) -> None:
    current = _next_running(src, app, note, stop, wait, first=True)
    while current is not None and not stop.is_set():
        after = marks.get(current.id, 0.0)
        name = current.name

        def one(x: LogLine, after: float = after, name: str = name, cid: str = current.id
                ) -> None:
            if x.time and x.time <= after:
                return  # shown before
            marks[cid] = max(marks.get(cid, 0.0), x.time)
            emit(AppLine(app, name, x.stream, x.time, x.text))

        try:
            src.engine.log_lines(current.id, tail=-1, since=after, follow=True, on_line=one,
                                 stop=stop)
        except EngineError as exc:  # removed mid-stream, or the engine went away
            note(f"-- {app}: log stream of {name} ended: {exc}")
        if stop.is_set():
            return
        wait(poll)  # a moment before looking again: never spin
        nxt = _next_running(src, app, note, stop, wait)
        if nxt is None:
            return
        if nxt.id == current.id:
            note(f"-- {app}: {name} is running again")
        else:
            note(f"-- {app}: following {nxt.name} (version {nxt.version[:12]})")
        current = nxt


def _next_running(src: LogSource, app: str, note: Note, stop: threading.Event,
                  wait: Callable[[float], object], first: bool = False
                  ) -> ObservedContainer | None:
    """The app's running container (the same one, restarted, or a new one) once there is one
    (at the start: its newest container, running or not); None when stopped."""
    said = ""
    while not stop.is_set():
        try:
            found = current_container(src.engine.list_containers(src.install), app)
        except EngineError as exc:
            found, why = None, f"the engine is not answering ({exc})"
        else:
            why = "no container" if found is None else f"{found.name} is {found.state}"
        if found is not None and (found.state == "running" or first):
            return found
        if why != said and not first:
            note(f"-- {app}: waiting for a running container: {why}")
            said = why
        first = False
        wait(0.5)
    return None
