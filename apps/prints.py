"""`print()` in user Starlark (the apps file, params.star, app.star and the files it loads, and
actions): each call as a located value. In a sandbox child the prints wait in a bounded buffer
until the child next talks to its parent; in the parent they go to the handler the command line
set (ace logs them as `app_print` events), and without one they are dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

__all__ = ["MAX_PRINTS", "MAX_TEXT", "PRINT_PRELUDE", "AppPrint", "deliver", "record",
           "set_print_handler", "start_buffer", "take"]

MAX_PRINTS = 1000  # kept per sandbox child between two talks to the parent; more are counted
MAX_TEXT = 2000  # characters of one print kept
# Starlark's print over a host callable `_ace_print(call_stack, text)` that locates the call
PRINT_PRELUDE = """
def print(*args, sep=" "):
    _ace_print(call_stack(), sep.join([str(a) for a in args]))
"""


@dataclass(frozen=True, slots=True)
class AppPrint:
    """One `print(...)`: its app ("" for the apps file), file, 1-based line and text."""

    app: str
    file: str
    line: int
    text: str


_handler: Callable[[AppPrint], None] | None = None
_buffer: list[AppPrint] | None = None  # set in a sandbox child only
_first_dropped: AppPrint | None = None  # the first print not kept, and how many were not
_dropped_count = 0


def set_print_handler(handler: Callable[[AppPrint], None] | None) -> None:
    """Where the prints of this process's evaluations go (None: nowhere)."""
    global _handler
    _handler = handler


def deliver(prints: Iterable[AppPrint]) -> None:
    """Hand prints to the handler (in the parent, or when nothing is isolated)."""
    handler = _handler
    if handler is not None:
        for p in prints:
            handler(p)


def start_buffer() -> None:
    """In a sandbox child: keep prints for the parent from now on."""
    global _buffer, _first_dropped, _dropped_count
    _buffer, _first_dropped, _dropped_count = [], None, 0


def record(p: AppPrint) -> None:
    """One print: buffered in a sandbox child (at most MAX_PRINTS), else delivered now."""
    global _first_dropped, _dropped_count
    if len(p.text) > MAX_TEXT:
        p = replace(p, text=p.text[:MAX_TEXT - 1] + "…")
    if _buffer is None:
        deliver([p])
    elif len(_buffer) < MAX_PRINTS:
        _buffer.append(p)
    else:
        _first_dropped = _first_dropped or p
        _dropped_count += 1


def take() -> list[AppPrint]:
    """The buffered prints (with one line saying how many were not kept), emptied."""
    global _first_dropped, _dropped_count
    if _buffer is None:
        return []
    out = list(_buffer)
    _buffer.clear()
    first = _first_dropped
    if first is not None:
        out.append(replace(first, text=f"({_dropped_count} more prints not shown, from "
                                       f"{first.file}:{first.line} on)"))
        _first_dropped, _dropped_count = None, 0
    return out
