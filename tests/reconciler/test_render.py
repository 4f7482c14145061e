"""Human output: user text (build logs, causes, paths) is printed literally, never as markup."""

from __future__ import annotations

import io

from rich.console import Console

from apps.model import EvalError
from reconciler.apply.executor import StepOutcome
from reconciler.cli import render
from reconciler.core.types import Step


def _capture(monkeypatch: object) -> io.StringIO:
    buf = io.StringIO()
    console = Console(file=buf, width=200, highlight=False)
    monkeypatch.setattr(render, "console", console)  # type: ignore[attr-defined]
    monkeypatch.setattr(render, "err_console", console)  # type: ignore[attr-defined]
    return buf


def test_outcome_with_brackets_prints_literally(monkeypatch: object) -> None:
    """A failed build whose log holds `[/bin/sh -c ...]` prints as is (it used to crash)."""
    buf = _capture(monkeypatch)
    step = Step("build:/web", "build", "/web", "ace-x/web:1", "build inputs changed: [a].txt")
    render.print_outcomes([StepOutcome(step, "failed",
                                       "executor failed running [/bin/sh -c exit 3]: exit 3")])
    out = buf.getvalue()
    assert "[/bin/sh -c exit 3]" in out
    assert "build inputs changed: [a].txt" in out


def test_errors_with_brackets_print_literally(monkeypatch: object) -> None:
    """Error messages quoting Starlark lists keep their brackets."""
    buf = _capture(monkeypatch)
    render.print_errors([EvalError("/web", "/x/app.star", 3, 5, "expected [str], got [int]")])
    assert "expected [str], got [int]" in buf.getvalue()
    assert "/x/app.star:3:5" in buf.getvalue()
