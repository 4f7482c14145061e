"""What the dashboard shows, kept up to date by `ace watch`: the `Board` is one more Reporter of
the watch loop (beside the terminal's), plus the apps of each pass (names, modes, public URLs,
actions) from the proxy. Every change is published to the subscribers (the pages' event
streams) as it happens; the loop never waits for them. Thread-safe."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from apps.model import App, EvalError
from reconciler.apply.executor import StepOutcome
from reconciler.watch.backoff import Attempts
from reconciler.watch.reporter import Row

__all__ = ["Board", "action_page"]

Subscriber = Callable[[str, dict[str, Any]], None]
PASSES_KEPT = 50
MESSAGE_CHARS = 4000


def action_page(app: str, action_path: str) -> str:
    """OpenRun's action path: the action's path under the app's ("/cmd" + "/" -> "/cmd")."""
    joined = "/" + "/".join(p for p in (app + "/" + action_path).split("/") if p)
    return joined


def _step(o: StepOutcome) -> dict[str, Any]:
    return {"app": o.step.app, "action": o.step.action, "target": o.step.target,
            "cause": o.step.cause, "outcome": o.outcome, "message": o.message[:MESSAGE_CHARS],
            "seconds": round(o.seconds, 2), "url": o.url, "where": o.where,
            "failed_step": o.failed_step, "exit_code": o.exit_code}


class Board:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._subs: list[Subscriber] = []
        self.apps_file = ""
        self.banner = ""
        self._rows: tuple[Row, ...] = ()
        self.apps: dict[str, dict[str, Any]] = {}
        self.details: dict[str, dict[str, Any]] = {}  # app -> the last error's detail
        self.passes: deque[dict[str, Any]] = deque(maxlen=PASSES_KEPT)
        self.passes_seen = 0
        self._pass: dict[str, Any] | None = None
        self._files: list[str] = []
        self._shown: list[dict[str, Any]] = []

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)

        def cancel() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)
        return cancel

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(kind, data)
            except Exception:  # a page that went away never stops the loop
                continue

    # -- what the pages read ----------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """One dict per app: the watch table's row (its mode as the row says how the app runs:
        "dev" or "prod"), its meta (name, public URL, actions) and its last error's detail."""
        with self._lock:
            out = []
            for r in self._rows:
                meta = self.apps.get(r.app, {})
                detail = self.details.get(r.app, {}) if r.last_error else {}
                out.append({**r.to_json(), "name": meta.get("name", ""),
                            "mode": "dev" if r.mode == "dev" else "prod",
                            "public_url": meta.get("public_url", ""),
                            "actions": meta.get("actions", []), "error": detail})
            return out

    def recent(self, app: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest passes that did something (newest first), only `app`'s steps of them."""
        with self._lock:
            passes = list(self.passes)
        out = []
        for p in passes:
            steps = [s for s in p["steps"] if app is None or s["app"] == app]
            if app is None or steps or app in p["reevaluated"]:
                out.append({**p, "steps": steps})
            if len(out) >= limit:
                break
        return out

    def state(self) -> dict[str, Any]:
        return {"apps": self.snapshot(), "banner": self.banner, "apps_file": self.apps_file,
                "passes": self.passes_seen}

    # -- fed by the proxy after each pass ---------------------------------------------------

    def set_apps(self, apps: Sequence[App], public: dict[str, str]) -> None:
        meta = {a.path: {"name": a.name, "public_url": public.get(a.path, ""),
                         "actions": [{"name": x.name, "description": x.description,
                                      "page": action_page(a.path, x.path)}
                                     for x in a.actions]} for a in apps}
        with self._lock:
            self.apps = meta

    # -- the Reporter protocol --------------------------------------------------------------

    def started(self, apps_file: str, roots: Sequence[str], resync: float) -> None:
        self.apps_file = apps_file

    def files_changed(self, paths: Sequence[str]) -> None:
        self._files = list(paths[:20])

    def pass_started(self, cycle: str, reason: str, reevaluated: Sequence[str]) -> None:
        self._pass = {"cycle": cycle, "reason": reason, "started": self.clock(),
                      "files": self._files if reason == "files" else [],
                      "reevaluated": list(reevaluated), "steps": [], "errors": []}
        self._files = []

    def app_errors(self, errors: Sequence[EvalError]) -> None:
        for e in errors:
            app = e.app or "(apps file)"
            self.details[app] = {"text": e.message, "where": e.where, "output": []}
            if self._pass is not None:
                self._pass["errors"].append({"app": app, "where": e.where, "text": e.message})

    def app_warnings(self, warnings: Sequence[EvalError]) -> None:
        pass

    def step(self, outcome: StepOutcome) -> None:
        s = _step(outcome)
        if self._pass is not None:
            self._pass["steps"].append(s)
        if outcome.outcome == "failed":
            self.details[outcome.step.app] = {
                "text": outcome.message.splitlines()[0] if outcome.message else "",
                "where": outcome.where, "output": outcome.message.splitlines()[1:][-20:]}
        self._publish("step", s)

    def pass_finished(self, cycle: str, seconds: float, steps: int, held: Sequence[str]) -> None:
        p, self._pass = self._pass, None
        self.passes_seen += 1
        if p is None:
            return
        p.update(seconds=round(seconds, 2), held=list(held))
        if p["steps"] or p["errors"] or p["files"]:
            with self._lock:
                self.passes.appendleft(p)
            self._publish("pass", p)

    def crash_loop(self, a: Attempts, retry_in: float) -> None:
        self.details[a.app] = {"text": f"crash-looping: exit code {a.exit_code or '?'}, "
                                       f"attempt {a.count}, next try in {retry_in:.0f} s",
                               "where": "", "output": a.logs.strip().splitlines()[-20:]}

    def build_failed(self, outcome: StepOutcome) -> None:
        self.details[outcome.step.app] = {
            "text": outcome.message.splitlines()[0] if outcome.message else "build failed",
            "where": outcome.where, "output": outcome.logs.splitlines()}

    def engine_unavailable(self, error: str, retry_in: float) -> None:
        self.banner = f"The Docker engine is not answering; retrying: {error}"
        self._publish("banner", {"banner": self.banner})

    def engine_back(self, down_for: float) -> None:
        self.banner = ""
        self._publish("banner", {"banner": ""})

    def lock_busy(self, holder: str) -> None:
        pass

    def rows(self, rows: Sequence[Row]) -> None:
        """The table after a pass; published only when something shown changed (an idle
        resync every few seconds sends nothing)."""
        with self._lock:
            self._rows = tuple(rows)
        apps = self.snapshot()
        if apps != self._shown:
            self._shown = apps
            self._publish("apps", {"apps": apps})

    def stopped(self, reason: str, down: Sequence[str]) -> None:
        self.banner = f"ace watch stopped ({reason})"
        self._publish("banner", {"banner": self.banner})
