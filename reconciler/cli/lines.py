"""The reconcile summary's lines (step outcomes, evaluation errors and warnings) composed once,
for rich (with markup) or as plain text. Piped output without FORCE_COLOR is plain: rich would
print the same characters, so a reconcile that changed something need not load rich at all."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from apps.model import EvalError
    from reconciler.apply.executor import StepOutcome

__all__ = ["Style", "error_line", "outcome_lines", "plain", "plain_report", "warning_line"]

# (text, style) -> the text as shown: styled (rich markup, escaped) or as it is (plain)
Style = Callable[[str, str], str]
_MARK = {"done": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("-", "yellow")}


def _as_is(text: str, style: str) -> str:
    return text


def plain(stream: TextIO) -> bool:
    """Whether rich would print to `stream` without any styling: not a terminal, no
    FORCE_COLOR / TTY_COMPATIBLE asking for colour anyway."""
    forced = os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1"
    return not forced and not stream.isatty()


def outcome_lines(o: StepOutcome, style: Style = _as_is) -> tuple[str, ...]:
    """The line of one step's outcome, and its message (indented) when it did not succeed."""
    s = o.step
    mark, colour = _MARK[o.outcome]
    line = (f"{style(mark, colour)} {style(f'{s.action:8}', '')} {style(s.app or s.target, '')}"
            f"  ({style(s.cause, '')})")
    if o.seconds:
        line += " " + style(f"{o.seconds:.1f}s", "dim")
    if o.url:
        line += "  " + style(o.url, "")
    if o.outcome != "done" and o.message:
        return line, "    " + o.message.replace("\n", "\n    ")
    return (line,)


def error_line(e: EvalError, style: Style = _as_is, kind: str = "error") -> str:
    colour = "red" if kind == "error" else "yellow"
    return (f"{style(kind, colour)} {style(e.app or '(apps file)', 'bold')} "
            f"{style(e.where, '')}\n  {style(e.message, '')}")


def warning_line(w: EvalError, style: Style = _as_is) -> str:
    return error_line(w, style, "warning")


def plain_report(outcomes: Sequence[StepOutcome], warnings: Iterable[EvalError],
                 errors: Iterable[EvalError]) -> None:
    """The summary after a pass, as plain text: outcomes on stdout, the rest on stderr."""
    out = [line for o in outcomes for line in outcome_lines(o)]
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    err = [warning_line(w) for w in warnings] + [error_line(e) for e in errors]
    if err:
        sys.stderr.write("\n".join(err) + "\n")
