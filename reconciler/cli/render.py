"""Output for people (rich) and machines (JSON). No decisions here, only presentation."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apps.model import EvalError, EvalResult
from reconciler.apply.executor import StepOutcome
from reconciler.cli import lines
from reconciler.core.report import AppStatus, DriftItem
from reconciler.core.types import Plan

__all__ = [
    "console",
    "err_console",
    "print_errors",
    "print_warnings",
    "print_json",
    "print_outcomes",
    "print_plan",
    "print_status",
    "print_drift",
    "plan_json",
    "reopen",
]


def _consoles() -> tuple[Console, Console]:
    """Consoles for stdout and stderr as they are now (a terminal's width and colours). Piped
    output is not wrapped at 80 columns: tables stay one row per app for grep and less."""
    return (Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200),
            Console(stderr=True, highlight=False, emoji=False,
                    width=None if sys.stderr.isatty() else 200))


console, err_console = _consoles()


def reopen() -> None:
    """Make the consoles anew for the streams the process writes to now: a command server's
    worker (cli.server) writes to its client's terminal or pipe, not the server's."""
    global console, err_console
    console, err_console = _consoles()

def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _markup(text: str, style: str) -> str:
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def print_errors(errors: Iterable[EvalError]) -> None:
    for e in errors:
        err_console.print(lines.error_line(e, _markup), soft_wrap=True)


def print_warnings(warnings: Iterable[EvalError]) -> None:
    for w in warnings:
        err_console.print(lines.warning_line(w, _markup), soft_wrap=True)


def plan_json(plan: Plan, outcomes: Sequence[StepOutcome] = ()) -> dict[str, Any]:
    by_id = {o.step.id: o for o in outcomes}
    steps = []
    for s in plan.steps:
        d: dict[str, Any] = {"id": s.id, "app": s.app, "action": s.action, "target": s.target,
                             "cause": s.cause, "depends_on": list(s.depends_on)}
        o = by_id.get(s.id)
        if o is not None:
            d.update(outcome=o.outcome, message=o.message, seconds=round(o.seconds, 3))
            if o.url:
                d["url"] = o.url
        steps.append(d)
    return {"steps": steps, "noops": [{"app": n.app, "reason": n.reason} for n in plan.noops]}


def print_plan(plan: Plan, *, verbose: bool) -> None:
    if not plan.steps:
        console.print("[dim]nothing to do[/]")
    for s in plan.steps:
        console.print(f"[bold]{s.action:8}[/] {escape(s.app)}  [dim]{escape(s.target)}[/]  "
                      f"({escape(s.cause)})",
                      soft_wrap=True)
    if verbose:
        for n in plan.noops:
            console.print(f"[dim]ok       {escape(n.app)}  ({escape(n.reason)})[/]",
                          soft_wrap=True)


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str, StepOutcome], None]]:
    """A spinner per running step on stderr (a terminal only); steps report from worker
    threads, which rich's Progress handles."""
    if not enabled:
        yield lambda kind, outcome: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    lock = threading.Lock()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:

        def on_event(kind: str, o: StepOutcome) -> None:
            with lock:
                if kind == "start":
                    tasks[o.step.id] = bar.add_task(
                        f"{o.step.action} {o.step.app} [dim]({o.step.cause})[/]", total=None)
                elif o.step.id in tasks:  # the summary after the pass shows how it ended
                    bar.remove_task(tasks.pop(o.step.id))

        yield on_event


def print_outcomes(outcomes: Sequence[StepOutcome]) -> None:
    for o in outcomes:
        line, *message = lines.outcome_lines(o, _markup)
        console.print(line, soft_wrap=True)
        for text in message:
            console.print(text, style="red", soft_wrap=True, markup=False)


def _ago(ts: int) -> str:
    if not ts:
        return ""
    d = int(time.time()) - ts
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if d >= n:
            return f"{d // n}{unit} ago"
    return f"{max(d, 0)}s ago"


def print_status(rows: Sequence[AppStatus]) -> None:
    if not rows:
        console.print("[dim]no apps[/]")
        return
    t = Table(box=None, pad_edge=False)
    public = any(r.public_url for r in rows)  # a proxy (ace watch / ace serve) runs
    cols = ("APP", "STATE", "HEALTH", "URL", *(("PUBLIC URL",) if public else ()), "CONTAINER",
            "SINCE", "LAST APPLY", "DETAIL")
    for col in cols:
        t.add_column(col, overflow="fold")
    colour = {"running": "green", "stopped": "red", "missing": "yellow", "failed": "red",
              "error": "red", "orphaned": "yellow", "idle": "cyan"}
    for r in rows:
        c = colour.get(r.state, "")
        state = f"[{c}]{r.state}[/]" if c else r.state
        if r.mode == "dev":
            state += " [cyan](dev)[/]"
        if r.error and r.state != "error":  # what runs, while the app does not evaluate
            state += " [red](error)[/]"
        t.add_row(escape(r.path), state, escape(r.health), r.url,
                  *((r.public_url,) if public else ()), r.container, _ago(r.since),
                  _last_apply(r), escape(r.detail))
    console.print(t)
    if any(r.replicas for r in rows):  # a cluster: each app's tasks
        tasks = Table(box=None, pad_edge=False)
        for col in ("APP", "REPLICAS", "NODE", "TASK", "STATE", "HEALTH", "ADDRESS"):
            tasks.add_column(col, overflow="fold")
        for r in rows:
            for i, task in enumerate(r.tasks):
                tasks.add_row(escape(r.path) if i == 0 else "",
                              f"{r.running}/{r.replicas}" if i == 0 else "", escape(task.node),
                              task.id[:12], escape(task.state + (f" ({task.error})"
                                                                 if task.error else "")),
                              task.health, task.address)
        console.print(tasks)


def _last_apply(r: AppStatus) -> str:
    """`replace done 3m ago`, the outcome in red when it failed."""
    la = r.last_apply
    if la is None:
        return ""
    outcome = f"[red]{la.outcome}[/]" if la.outcome == "failed" else la.outcome
    return f"{escape(la.action)} {outcome} {_ago(int(la.at))}"


def print_drift(items: Sequence[DriftItem], unchecked: Sequence[str] = (),
                idle: Sequence[tuple[str, str]] = ()) -> None:
    """The drift table; `unchecked` names what could not be checked (apps that do not
    evaluate), and then sync is never claimed; `idle` the apps asleep (not drift)."""
    for app, why in idle:
        console.print(f"[cyan]idle[/]: {escape(app)} ({escape(why)}; the next request through "
                      "ace's proxy starts it)", soft_wrap=True)
    if items:
        t = Table(box=None, pad_edge=False)
        for col in ("APP", "KIND", "WHAT", "EXPECTED", "ACTUAL"):
            t.add_column(col, overflow="fold")
        for i in items:
            kind = "[red]drift[/]" if i.kind == "drift" else "[yellow]pending[/]"
            t.add_row(escape(i.app), kind, escape(i.what), escape(i.expected), escape(i.actual))
        console.print(t)
    if unchecked:
        console.print(f"[yellow]not checked[/]: {escape(', '.join(unchecked))} (does not "
                      "evaluate; errors below)", soft_wrap=True)
    elif not items:
        console.print("[green]in sync[/]")


def print_config(result: EvalResult) -> None:
    for a in result.apps:
        c = a.container
        static = a.static_json()
        if c is None and static is not None:
            desc = (f"static: files of {static['root'] or '(no source)'}, "
                    f"{'only ' if static['single_file'] else 'index '}{static['index']}")
        elif c is None:
            desc = "no container"
        elif c.kind == "image":
            desc = f"image {c.image}"
        else:
            desc = f"build {c.containerfile}"
        if c is not None:
            desc += f", port {c.port}, lifetime {c.lifetime}, health {c.health}"
            if c.dev is not None:
                d = c.dev
                desc += f", dev mode (target {d.target}, dir {d.dir}, reload {d.reload})"
            elif c.dev_note:
                desc += f", {c.dev_note}"
        console.print(f"[bold]{escape(a.path)}[/] ({escape(a.name)}): {escape(desc)}",
                      soft_wrap=True)
        if a.actions:
            console.print("  actions: " + ", ".join(x.name for x in a.actions), soft_wrap=True,
                          markup=False)
    print_warnings(result.warnings)
    print_errors(result.errors)
