"""structlog setup and loggers: JSON lines with --log-json (machines), short console lines
otherwise. Event names are stable snake_case facts (plan_computed, step_started, step_failed...).

`get_logger` returns a light proxy that imports structlog only when an event passes the level
threshold, so a quiet no-op reconcile never pays for importing it. `bound(cycle=...)` adds
context to every event emitted inside it, in this thread and in the tasks it hands on with
`contextvars.copy_context()` (the executor does), without importing structlog either.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.prints import AppPrint

__all__ = ["bound", "get_logger", "log_print", "setup_logging"]

# the stdlib logging levels (the module itself is not imported: a quiet pass never needs it)
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
_threshold = WARNING
_settings: dict[str, bool] = {"json_lines": False, "configured": False}
_LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR,
           "critical": CRITICAL}
_bound: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar(
    "ace_log_bound", default=())


@contextmanager
def bound(**kw: Any) -> Iterator[None]:
    """Every event logged inside carries `kw` (e.g. the pass's cycle id)."""
    token = _bound.set(tuple({**dict(_bound.get()), **kw}.items()))
    try:
        yield
    finally:
        _bound.reset(token)


class Logger:
    """A bound logger that defers to structlog for every event at or above the threshold."""

    __slots__ = ("_context", "_name")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}

    def bind(self, **kw: Any) -> Logger:
        return Logger(self._name, {**self._context, **kw})

    def _emit(self, level: str, event: str, kw: dict[str, Any]) -> None:
        if _LEVELS[level] < _threshold:
            return
        import structlog

        if not _settings["configured"]:
            _configure()
        logger = structlog.get_logger(self._name).bind(**{**dict(_bound.get()), **self._context})
        getattr(logger, level)(event, **kw)

    def debug(self, event: str, **kw: Any) -> None:
        self._emit("debug", event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._emit("info", event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._emit("warning", event, kw)

    def error(self, event: str, **kw: Any) -> None:
        self._emit("error", event, kw)


def get_logger(name: str) -> Logger:
    return Logger(name)


def log_print(p: AppPrint) -> None:
    """A `print()` of the user's Starlark, as the info event `app_print`."""
    get_logger("ace.starlark").info("app_print", app=p.app, file=p.file, line=p.line,
                                    text=p.text)


def setup_logging(*, json_lines: bool = False, verbose: bool = False,
                  level: int | None = None) -> None:
    """Set the level and format, and log the prints of the user's Starlark (`app_print`).
    structlog is configured now when info events will show (they are emitted on every pass),
    else on the first warning."""
    global _threshold
    from apps.prints import set_print_handler

    set_print_handler(log_print)
    # Without -v or --log-json a person reads the rich output, which already says what failed:
    # only errors ace did not report otherwise reach the log.
    _threshold = level if level is not None else (INFO if (json_lines or verbose) else ERROR)
    _settings.update(json_lines=json_lines, configured=False)
    if _threshold <= INFO:
        _configure()


def _configure() -> None:
    import structlog

    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if _settings["json_lines"]:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _settings["configured"] = True
