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
    console = Console(file=buf, width=200, highlight=False, emoji=False)
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


def test_plain_report_is_what_rich_prints_to_a_pipe(monkeypatch: object,
                                                    capsys: object) -> None:
    """The plain summary (piped output, rich not loaded) is character for character what rich
    prints when not at a terminal: marks, times, URLs, failure messages, errors, warnings."""
    from reconciler.cli import lines

    step = Step("replace:/web", "replace", "/web", "ace-x-web-1", "env N: [a] → b")
    outcomes = [StepOutcome(step, "done", seconds=1.25, url="http://127.0.0.1:3000"),
                StepOutcome(Step("network:n", "network", "", "ace-net", "app network missing"),
                            "done"),
                StepOutcome(step, "failed", "exit 3\n[/bin/sh -c x] failed", seconds=0.4),
                StepOutcome(step, "skipped", "after a failed step")]
    errs = [EvalError("/web", "/x/app.star", 3, 5, "expected [str], got [int]"),
            EvalError("", "/x/apps.star", 1, 1, "no such :smile: file")]
    warns = [EvalError("/api", "/x/api/app.star", 9, 2, "unused param [p]")]
    buf = _capture(monkeypatch)
    render.print_outcomes(outcomes)
    render.print_warnings(warns)
    render.print_errors(errs)
    lines.plain_report(outcomes, warns, errs)
    out, err = capsys.readouterr()  # type: ignore[attr-defined]
    assert out + err == buf.getvalue()
    assert "✗ replace  /web  (env N: [a] → b) 0.4s\n    exit 3\n    [/bin/sh -c x] failed" in out


def test_emoji_codes_in_user_text_stay_literal() -> None:
    """Rich's consoles do not turn `:smile:` in a message into an emoji (user text is literal)."""
    for console in (render.console, render.err_console):
        with console.capture() as cap:
            console.print("no such :smile: file")
        assert cap.get() == "no such :smile: file\n"
