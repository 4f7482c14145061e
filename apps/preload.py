"""Imports the parent makes while a sandbox child evaluates, instead of after it.

Between forking a child and reading its answer the parent only waits, and on a pass that
changed something the modules the next steps need (the app.star front end after the apps file,
the executor after the apps) are not loaded yet. `preload(names)` queues such modules for the
span of a `with` block; `run_isolated` imports them one at a time right after each fork, until
the child answers (the rest wait for the next fork, or are left to load when first used). A
pass that forks no child (everything cached) imports nothing early.

Only the parent imports here, after the fork: the child never inherits a half-done import.
A module that fails to load is skipped; its real import later raises as it always would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from importlib import import_module

__all__ = ["preload", "while_waiting"]

_QUEUE: list[str] = []


@contextlib.contextmanager
def preload(*modules: str, first: bool = False) -> Iterator[None]:
    """Queue `modules` (ahead of those already queued when `first`) for the block's span."""
    added = [m for m in modules if m not in _QUEUE]
    _QUEUE[:0 if first else len(_QUEUE)] = added
    try:
        yield
    finally:
        for name in added:
            with contextlib.suppress(ValueError):
                _QUEUE.remove(name)


def while_waiting(answered: Callable[[], bool]) -> None:
    """Import queued modules, one at a time, until `answered()` (the child's answer is ready)."""
    while _QUEUE and not answered():
        name = _QUEUE.pop(0)
        with contextlib.suppress(Exception):  # its real import later reports the failure
            import_module(name)
