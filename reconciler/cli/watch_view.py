"""What a person (or a machine) sees of `ace watch`: the two implementations of the watch
loop's `Reporter`.

- `LiveReporter` (a terminal): a rich Live table (app, state, health, URL, last change, last error)
  and one line above it per applied change, with its cause.
- `JsonReporter` (not a TTY, or --log-json): structlog JSON lines with stable snake_case event
  names: watch_started, pass_started, files_changed, app_error, app_warning, step_done (from the
  executor), pass_finished, build_failed, engine_unavailable, engine_back, crash_loop_backoff,
  lock_busy, watch_stopped.
No decisions here, only presentation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import structlog
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from apps.model import EvalError
from apps.prints import AppPrint
from reconciler.apply.executor import StepOutcome
from reconciler.watch.backoff import Attempts
from reconciler.watch.reporter import Row, first_line

__all__ = ["JsonReporter", "LiveReporter"]


class JsonReporter:
    """structlog events (JSON lines when logging is set up with json_lines=True)."""

    def __init__(self) -> None:
        self.log = structlog.get_logger("ace.watch")
        self._rows: tuple[Row, ...] = ()

    def started(self, apps_file: str, roots: Sequence[str], resync: float) -> None:
        self.log.info("watch_started", apps_file=apps_file, roots=list(roots), resync=resync)

    def files_changed(self, paths: Sequence[str]) -> None:
        self.log.info("files_changed", paths=list(paths[:20]), count=len(paths))

    def pass_started(self, cycle: str, reason: str, reevaluated: Sequence[str]) -> None:
        quiet = reason == "resync" and not reevaluated  # idle resyncs stay at debug level
        emit = self.log.debug if quiet else self.log.info
        emit("pass_started", cycle=cycle, reason=reason, reevaluated=list(reevaluated))

    def app_errors(self, errors: Sequence[EvalError]) -> None:
        for e in errors:
            self.log.warning("app_error", app=e.app, file=e.file, line=e.line, column=e.column,
                             error=e.message)

    def app_warnings(self, warnings: Sequence[EvalError]) -> None:
        for w in warnings:
            self.log.warning("app_warning", app=w.app, file=w.file, line=w.line,
                             column=w.column, warning=w.message)

    def step(self, outcome: StepOutcome) -> None:
        pass  # the executor logs step_done / step_failed itself

    def pass_finished(self, cycle: str, seconds: float, steps: int, held: Sequence[str]) -> None:
        # the pass's one pass_finished (run_pass leaves it to the loop): reconcile's fields
        # and the loop's held apps
        self.log.info("pass_finished", cycle=cycle, seconds=round(seconds, 3), steps=steps,
                      held=list(held), dry_run=False)

    def crash_loop(self, a: Attempts, retry_in: float) -> None:
        self.log.warning("crash_loop_backoff", app=a.app, attempts=a.count,
                         retry_in=round(retry_in, 1), exit_code=a.exit_code,
                         logs=a.logs.strip().splitlines()[-5:])

    def build_failed(self, o: StepOutcome) -> None:
        file, _, line = o.where.rpartition(":")
        self.log.warning("build_failed", app=o.step.app, image=o.step.target,
                         step=o.failed_step, exit_code=o.exit_code,
                         output=o.logs.splitlines(), file=file if line.isdigit() else o.where,
                         line=int(line) if line.isdigit() else 0,
                         error=o.message.splitlines()[0] if o.message else "")

    def engine_unavailable(self, error: str, retry_in: float) -> None:
        self.log.warning("engine_unavailable", error=error, retry_in=round(retry_in, 1))

    def engine_back(self, down_for: float) -> None:
        self.log.info("engine_back", down_for=round(down_for, 1))

    def lock_busy(self, holder: str) -> None:
        self.log.info("lock_busy", holder=holder)

    def rows(self, rows: Sequence[Row]) -> None:
        new = tuple(rows)
        if new != self._rows:  # only when something a person would see changed
            self.log.info("status", apps=[r.to_json() for r in new])
        self._rows = new

    def stopped(self, reason: str, down: Sequence[str]) -> None:
        self.log.info("watch_stopped", reason=reason, removed=list(down))


_COLOUR = {"running": "green", "stopped": "red", "missing": "yellow", "crash-looping": "red",
           "build-failed": "red", "error": "red", "orphaned": "yellow", "failed": "red",
           "idle": "cyan"}
_MARK = {"done": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]"}


class LiveReporter:
    """A rich Live table, refreshed after each pass, plus a line per change above it."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._rows: tuple[Row, ...] = ()
        self._banner = ""
        self._live = Live(self._render(), console=self.console, auto_refresh=False,
                          transient=False, redirect_stderr=False)
        self._live.start()

    def _print(self, text: str) -> None:
        self._live.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", soft_wrap=True)

    def _render(self) -> Group:
        t = Table(box=None, pad_edge=False, expand=False)
        for col in ("APP", "STATE", "HEALTH", "URL", "LAST CHANGE", "LAST ERROR"):
            t.add_column(col, overflow="fold")
        for r in self._rows:
            c = _COLOUR.get(r.state, "")
            state = f"[{c}]{r.state}[/]" if c else r.state
            if r.mode == "dev":
                state += " [cyan](dev)[/]"
            t.add_row(escape(r.app), state, escape(r.health), r.url, escape(r.last_change),
                      Text(r.last_error, style="red"))
        parts: list[Any] = [t]
        if self._banner:
            parts.append(Text(self._banner, style="yellow"))
        return Group(*parts)

    def _refresh(self) -> None:
        self._live.update(self._render(), refresh=True)

    def started(self, apps_file: str, roots: Sequence[str], resync: float) -> None:
        self._print(f"watching {apps_file} (resync every {resync:g} s); Ctrl-C to stop")

    def files_changed(self, paths: Sequence[str]) -> None:
        shown = ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
        self._print(f"[dim]changed: {escape(shown)}[/]")

    def pass_started(self, cycle: str, reason: str, reevaluated: Sequence[str]) -> None:
        pass

    def app_errors(self, errors: Sequence[EvalError]) -> None:
        for e in errors:
            where = e.where
            self._print(f"[red]error[/] {escape(e.app or '(apps file)')} {escape(where)}: "
                        f"{escape(e.message)}")

    def app_print(self, p: AppPrint) -> None:
        """A `print()` of an app's Starlark (the prints handler, see apps.prints)."""
        self._print(f"[dim]print[/] {escape(p.app or '(apps file)')} "
                    f"{escape(f'{p.file}:{p.line}')}: {escape(p.text)}")

    def app_warnings(self, warnings: Sequence[EvalError]) -> None:
        for w in warnings:
            where = w.where
            self._print(f"[yellow]warning[/] {escape(w.app or '(apps file)')} {escape(where)}: "
                        f"{escape(w.message)}")

    def step(self, o: StepOutcome) -> None:
        s = o.step
        tail = f" → {o.url}" if o.url else ""
        msg = f"  [red]{escape(first_line(o.message))}[/]" if o.outcome == "failed" else ""
        what = escape(s.app or s.target)  # an installation step (the network) has no app
        self._print(f"{_MARK[o.outcome]} {s.action} {what} ({escape(s.cause)}) "
                    f"{o.seconds:.1f}s{tail}{msg}")

    def pass_finished(self, cycle: str, seconds: float, steps: int, held: Sequence[str]) -> None:
        pass

    def crash_loop(self, a: Attempts, retry_in: float) -> None:
        self._print(f"[red]crash-looping[/] {escape(a.app)}: exit code {a.exit_code or '?'}, "
                    f"attempt {a.count}, next try in {retry_in:.0f} s")

    def build_failed(self, o: StepOutcome) -> None:
        out = o.logs.splitlines()[-10:]
        head = f"[red]build failed[/] {escape(o.step.app)}"
        if o.failed_step:
            head += f" at step {escape(o.failed_step)}"
        if o.where:
            head += f" ({escape(o.where)})"
        if o.exit_code:
            head += f": exit code {o.exit_code}"
        self._print(head + "; the running version keeps serving")
        for line in out:
            self._live.console.print(Text(f"    {line}", style="dim"), soft_wrap=True)

    def engine_unavailable(self, error: str, retry_in: float) -> None:
        self._banner = f"Docker engine not answering; retrying (every ≤{retry_in:.0f} s): " \
                       f"{first_line(error, 100)}"
        self._print(f"[yellow]engine unavailable[/]: {escape(first_line(error))}")
        self._refresh()

    def engine_back(self, down_for: float) -> None:
        self._banner = ""
        self._print(f"[green]engine back[/] after {down_for:.0f} s")
        self._refresh()

    def lock_busy(self, holder: str) -> None:
        self._banner = f"waiting for {holder} (state lock)"
        self._refresh()

    def rows(self, rows: Sequence[Row]) -> None:
        self._rows = tuple(rows)
        if self._banner.startswith("waiting for"):
            self._banner = ""
        self._refresh()

    def stopped(self, reason: str, down: Sequence[str]) -> None:
        for line in down:
            self._print(f"[green]✓[/] removed {escape(line)}")
        self._print(f"stopped ({reason})")
        self._live.stop()
