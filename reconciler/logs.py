"""structlog setup: JSON lines with --log-json (machines), short console lines otherwise.

Event names are stable snake_case facts (plan_computed, step_started, step_failed, ...)."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["setup_logging"]


def setup_logging(*, json_lines: bool = False, verbose: bool = False) -> None:
    level = logging.INFO if (json_lines or verbose) else logging.WARNING
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json_lines:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
