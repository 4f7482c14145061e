"""Build output on disk: each pass that builds an app writes the build's lines to
`<state dir>/logs/<app>.build.jsonl` (the last build only: a new build starts the file afresh),
one JSON object per line, flushed as they come, so `ace logs` and the dashboard of another
process can show a build while it runs."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote

from reconciler.applogs.lines import AppLine

__all__ = ["BuildLogTail", "BuildLogWriter", "build_log_apps", "build_log_path", "read_build_log"]

LOG_DIR = "logs"
_SUFFIX = ".build.jsonl"


def build_log_path(state_dir: Path, app: str) -> Path:
    return state_dir / LOG_DIR / (quote(app, safe="") + _SUFFIX)


def build_log_apps(state_dir: Path) -> list[str]:
    """Apps that have a build log."""
    d = state_dir / LOG_DIR
    if not d.is_dir():
        return []
    return sorted(unquote(p.name[: -len(_SUFFIX)]) for p in d.iterdir()
                  if p.name.endswith(_SUFFIX))


class BuildLogWriter:
    """`on_output(app, line)` for one pass: the first line of an app starts its file afresh.
    Safe to call from the executor's threads; `close()` at the end of the pass."""

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.clock = clock
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, app: str, line: str) -> None:
        record = json.dumps({"time": self.clock(), "text": line}) + "\n"
        with self._lock:
            f = self._files.get(app)
            if f is None:
                path = build_log_path(self.state_dir, app)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    f = self._files[app] = open(path, "w", encoding="utf-8")  # noqa: SIM115
                except OSError:
                    return  # a log that cannot be written never fails a build
            with contextlib.suppress(OSError):
                f.write(record)
                f.flush()

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                with contextlib.suppress(OSError):
                    f.close()
            self._files.clear()


def _parse(app: str, raw: str) -> AppLine | None:
    try:
        doc = json.loads(raw)
        return AppLine(app, "", "build", float(doc["time"]), str(doc["text"]))
    except (ValueError, KeyError, TypeError):
        return None


def read_build_log(state_dir: Path, app: str) -> list[AppLine]:
    """The lines of the app's last build (none when it never built)."""
    try:
        text = build_log_path(state_dir, app).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [x for x in (_parse(app, r) for r in text.splitlines()) if x is not None]


class BuildLogTail:
    """Lines appended to an app's build log since the last `poll()`; a new build (the file
    started afresh: its first line differs) is read from its beginning."""

    def __init__(self, state_dir: Path, app: str, *, from_end: bool = True) -> None:
        self.path = build_log_path(state_dir, app)
        self.app = app
        self._first, self._pos = "", 0
        if from_end:
            with contextlib.suppress(OSError), open(self.path, "rb") as f:
                self._first = f.readline().decode("utf-8", "replace")
                self._pos = f.seek(0, os.SEEK_END)

    def poll(self) -> list[AppLine]:
        try:
            with open(self.path, "rb") as f:
                first = f.readline().decode("utf-8", "replace")
                if first != self._first:  # a new build
                    self._first, self._pos = first, 0
                f.seek(self._pos)
                chunk = f.read()
        except OSError:
            return []
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self._pos += len(whole)
        lines = (_parse(self.app, r) for r in whole.decode("utf-8", "replace").splitlines())
        return [x for x in lines if x is not None]
