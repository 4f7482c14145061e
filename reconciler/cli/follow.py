"""`ace logs APP --follow`: an app's output across its containers.

A replace (by `ace watch` or a reconcile) starts a new container and removes the old one, so
following one container would go quiet at the first edit. This follows the *app*: when the
stream ends (the container stopped or was removed), it waits for the app's next running
container and goes on with that one from its first line (a restarted container from where it
left off). It ends only on Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from apps.errors import EngineError
from reconciler.core.types import ObservedContainer, current_container
from reconciler.driver.ports import Engine

__all__ = ["follow_app"]

Write = Callable[[str], None]



def follow_app(engine: Engine, install: str, app: str, first: ObservedContainer, *,
               tail: int, out: Write, note: Write, poll: float = 0.5,
               sleep: Callable[[float], None] = time.sleep) -> None:
    """Print `tail` lines of `first`, then everything the app's containers print, switching to
    each new container as it appears; returns only by an exception (KeyboardInterrupt)."""
    current, lines = first, tail
    followed = {first.id}
    while True:
        try:
            engine.follow_logs(current.id, tail=lines, on_output=out)
        except EngineError as exc:  # removed mid-stream, or the engine went away
            note(f"-- log stream of {current.name} ended: {exc}")
        sleep(poll)  # a moment before looking again: never spin
        nxt, waited = _next_running(engine, install, app, note, poll, sleep)
        if nxt.id == current.id:
            if waited:
                note(f"-- {current.name} is running again")
            lines = 0  # what it printed before is already on screen
        else:
            note(f"-- following {nxt.name} (version {nxt.version[:12]})")
            lines = -1 if nxt.id not in followed else 0
        followed.add(nxt.id)
        current = nxt


def _next_running(engine: Engine, install: str, app: str, note: Write, poll: float,
                  sleep: Callable[[float], None]) -> tuple[ObservedContainer, bool]:
    """The app's running container (the same one, restarted, or a new one), once there is one;
    and whether there was a wait for it."""
    said = ""
    while True:
        try:
            found = current_container(engine.list_containers(install), app)
        except EngineError as exc:
            found, why = None, f"the engine is not answering ({exc})"
        else:
            why = "no container" if found is None else f"{found.name} is {found.state}"
        if found is not None and found.state == "running":
            return found, bool(said)
        if why != said:
            note(f"-- waiting for a running container of {app}: {why}")
            said = why
        sleep(poll)
