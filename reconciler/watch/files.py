"""File watching for `ace watch`: which paths matter (`WatchSet`, re-derived after every pass) and
a watchfiles thread that coalesces bursts of changes into one wake-up of the loop.

What matters: the apps file, every file an app's evaluation read, and every build context
(.dockerignore honoured; new files and directories included). Never: editor temp files, VCS
dirs, the state dir, FIFOs, sockets and devices (a write to one is not an edit; the pass warns
about them once). The watcher only says *that* something changed; the loop runs a pass.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import watchfiles

from apps.model import App
from reconciler.core.dockerignore import DockerIgnore
from reconciler.core.hashing import special_kind

__all__ = ["FileWatcher", "WatchSet", "dev_touched", "watch_roots"]

_TEMP = ("*.swp", "*.swx", "*.swo", "*~", ".#*", "#*#", "4913", "*.tmp", ".*.kate-swp")
_VCS = frozenset({".git", ".hg", ".svn", ".jj", "__pycache__"})


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _special(path: str) -> bool:
    """A FIFO, socket or device (one lstat; a path that is gone is not special)."""
    try:
        return bool(special_kind(os.lstat(path).st_mode))
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class WatchSet:
    """The paths whose change triggers a pass."""

    files: frozenset[str] = frozenset()
    contexts: tuple[tuple[str, DockerIgnore], ...] = ()  # build contexts, their .dockerignore
    state_dir: str = ""
    roots: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, files: Iterable[str], contexts: Iterable[str], state_dir: str) -> WatchSet:
        fs = frozenset(os.path.abspath(f) for f in files)
        ctx = tuple((os.path.abspath(c), DockerIgnore.read(c)) for c in sorted(set(contexts)) if c)
        roots = watch_roots([os.path.dirname(f) for f in fs] + [c for c, _ in ctx])
        return cls(fs, ctx, os.path.abspath(state_dir) if state_dir else "", roots)

    def matters(self, path: str) -> bool:
        path = os.path.abspath(path)
        name = os.path.basename(path)
        if any(fnmatch.fnmatchcase(name, pat) for pat in _TEMP):
            return False
        if _VCS.intersection(path.split(os.sep)):
            return False
        if self.state_dir and _under(path, self.state_dir):
            return False
        if path in self.files:
            return True
        for ctx, rules in self.contexts:
            if _under(path, ctx):
                rel = os.path.relpath(path, ctx)
                if rel == "." or rel == ".dockerignore":
                    return True
                return not rules.ignores(rel) and not _special(path)
        return False


def watch_roots(dirs: Iterable[str]) -> tuple[str, ...]:
    """The fewest existing directories that cover `dirs` (each watched recursively)."""
    out: list[str] = []
    for d in sorted({os.path.abspath(d) for d in dirs if d}, key=len):
        while d and not os.path.isdir(d):  # a deleted dir: watch the nearest existing parent
            parent = os.path.dirname(d)
            d = "" if parent == d else parent
        if d and not any(_under(d, r) for r in out):
            out.append(d)
    return tuple(sorted(out))


class FileWatcher:
    """A daemon thread running watchfiles over the current roots. `update()` swaps the WatchSet
    (restarting the watch when the roots changed); `on_change(paths)` is called with each
    coalesced burst of relevant paths (debounced: `step_ms` of quiet ends a burst)."""

    def __init__(self, on_change: Callable[[tuple[str, ...]], None], *, step_ms: int = 60,
                 debounce_ms: int = 1600) -> None:
        self._on_change = on_change
        self._step = step_ms
        self._debounce = debounce_ms
        self._set = WatchSet()
        self._restart = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error = ""

    @property
    def watch_set(self) -> WatchSet:
        return self._set

    def update(self, ws: WatchSet) -> None:
        with self._lock:
            old, self._set = self._set, ws
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ace-watch-files", daemon=True)
            self._thread.start()
        elif old.roots != ws.roots:
            self._restart.set()

    def stop(self) -> None:
        self._stop.set()
        self._restart.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _filter(self, change: watchfiles.Change, path: str) -> bool:
        return self._set.matters(path)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._restart.clear()
            roots = self._set.roots
            if not roots:
                self._restart.wait()
                continue
            try:
                for changes in watchfiles.watch(
                    *roots, watch_filter=self._filter, stop_event=self._restart,
                    debounce=self._debounce, step=self._step, rust_timeout=0,
                    raise_interrupt=False,
                ):
                    self._on_change(tuple(sorted({p for _, p in changes})))
                self.error = ""
            except (OSError, RuntimeError) as exc:  # a root vanished: re-derive, try again
                self.error = str(exc)
                self._on_change(())
                self._stop.wait(1.0)


def dev_touched(apps: Iterable[App], paths: Iterable[str]) -> frozenset[str]:
    """The dev-mode apps whose mounted source holds one of the changed `paths`, not counting
    the files that define the app (its .star files, container file) or its dev image (its
    env files): those change the desired state, and the planner sees them as such."""
    changed = [os.path.abspath(p) for p in paths]
    out: set[str] = set()
    for app in apps:
        c = app.container
        if c is None or c.dev is None or not c.source_dir:
            continue
        defining = {c.containerfile, *(f for f in app.files if f.endswith(".star")),
                    *(os.path.join(c.source_dir, f) for f in c.dev.env_files)}
        if any(_under(p, c.source_dir) and p not in defining for p in changed):
            out.add(app.path)
    return frozenset(out)
