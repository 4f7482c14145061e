"""Incremental evaluation for `ace watch`: re-evaluate an app only when a file it read (or its
apps-file entry) changed, and keep each app's last good `App` when a new evaluation fails.

Change detection is level-triggered: a fingerprint (mtime, size, inode) of every file an app's
evaluation read, compared on each pass; file events only say *when* to look, never *what* to do.
The result is an ordinary `EvalResult` that `prepare(..., evaluation=...)` plans from.
`EvalMemory.dev_apps` runs those apps in dev mode (`ace watch --dev APP`); an app's entry is
compared with its dev flag, so switching an app into or out of dev mode re-evaluates it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from apps import evaluate_app
from apps.appsfile import read_apps_file
from apps.errors import AppError
from apps.locate import app_warnings, mark_dev, unknown_dev_apps
from apps.model import App, AppEntry, EvalError, EvalResult

__all__ = [
    "AppMemo",
    "EvalMemory",
    "Evaluated",
    "Fingerprint",
    "evaluate_incremental",
    "fingerprint",
]

Stamp = tuple[int, int, int] | None  # (mtime_ns, size, inode); None when missing
Fingerprint = tuple[tuple[str, Stamp], ...]
EvalApp = Callable[..., App]


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def fingerprint(paths: Iterable[str]) -> Fingerprint:
    """What the files look like now (sorted, de-duplicated)."""
    return tuple((p, _stamp(p)) for p in sorted({p for p in paths if p}))


def _changed(fp: Fingerprint) -> bool:
    return any(_stamp(p) != s for p, s in fp)


@dataclass(frozen=True, slots=True)
class AppMemo:
    """One declared app: its entry (line-independent), the fingerprint of the files its last
    evaluation read (or may fix it, when it failed), its last good App and current error."""

    entry: AppEntry
    fingerprint: Fingerprint
    app: App | None = None
    error: EvalError | None = None

    def files(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.fingerprint)


@dataclass(frozen=True, slots=True)
class EvalMemory:
    """What the previous passes learned. `entries` are the last good apps-file entries (as
    declared: `dev_apps` is applied on each pass)."""

    apps_file: str
    apps_fp: Fingerprint = ()
    entries: tuple[AppEntry, ...] = ()
    apps_file_ok: bool = True
    file_errors: tuple[EvalError, ...] = ()  # errors of the apps file itself
    entry_errors: tuple[EvalError, ...] = ()  # errors of single app() calls
    file_warnings: tuple[EvalError, ...] = ()  # warnings of the apps file itself
    memos: Mapping[str, AppMemo] = field(default_factory=dict)
    dev_apps: frozenset[str] = frozenset()  # app paths run in dev mode whatever the file says

    def watched_files(self) -> frozenset[str]:
        out = {self.apps_file}
        for m in self.memos.values():
            out.update(m.files())
        return frozenset(out)


@dataclass(frozen=True, slots=True)
class Evaluated:
    result: EvalResult
    memory: EvalMemory
    reevaluated: tuple[str, ...]  # app paths evaluated this pass
    apps_file_read: bool


def _key(entry: AppEntry) -> AppEntry:
    """An entry compared without its line: moving an app() call changes nothing."""
    return dataclasses.replace(entry, line=0)


def _candidates(entry: AppEntry, last: App | None, err: AppError) -> list[str]:
    """Files whose change may fix a failed app."""
    files = list(last.files) if last else []
    if err.file and os.path.isabs(err.file):
        files.append(err.file)
    if entry.source not in ("", "-"):
        files += [os.path.join(entry.source, "app.star"), os.path.join(entry.source, "params.star")]
    return files


def _evaluate_one(
    entry: AppEntry, prev: AppMemo | None, deadline: float, eval_app: EvalApp
) -> AppMemo:
    before = dict(fingerprint(prev.files())) if prev else {}  # stamps as of now, pre-eval
    last = prev.app if prev else None
    try:
        app = eval_app(entry, deadline=deadline)
    except AppError as e:
        err = EvalError(e.app or entry.path, e.file, e.line, e.column, e.message)
        files = _candidates(entry, last, e)
        return AppMemo(_key(entry), _merge(fingerprint(files), before), last, err)
    return AppMemo(_key(entry), _merge(fingerprint(app.files), before), app, None)


def _merge(after: Fingerprint, before: Mapping[str, Stamp]) -> Fingerprint:
    """Prefer stamps taken before the evaluation: a save landing while it ran is seen next pass."""
    return tuple((p, before.get(p, s)) for p, s in after)


def _read_entries(memory: EvalMemory, deadline: float) -> EvalMemory:
    fp = fingerprint([memory.apps_file])
    declared, _ = read_apps_file(memory.apps_file, deadline=deadline)
    if not declared.ok:  # keep the last good entries: nothing is added, removed or pruned
        return dataclasses.replace(memory, apps_fp=fp, apps_file_ok=False,
                                   file_errors=tuple(declared.errors),
                                   file_warnings=tuple(declared.warnings))
    entry_errors = tuple(e for e in declared.errors if e.app)
    failed = {e.app for e in entry_errors}
    # An app() call that became invalid keeps its last good entry.
    kept = [m.entry for p, m in memory.memos.items() if p in failed and m.app is not None]
    return dataclasses.replace(memory, apps_fp=fp, apps_file_ok=True, file_errors=(),
                               entries=tuple(declared.entries) + tuple(kept),
                               entry_errors=entry_errors,
                               file_warnings=tuple(declared.warnings))


def evaluate_incremental(
    memory: EvalMemory,
    *,
    deadline: float = 2.0,
    eval_app: EvalApp = evaluate_app,
    dev_apps: Collection[str] | None = None,
) -> Evaluated:
    """Re-read the apps file if it changed, re-evaluate apps whose files or entry changed, and
    build the EvalResult of this pass from fresh and remembered apps. `dev_apps`, when given,
    replaces `memory.dev_apps` from this pass on."""
    if dev_apps is not None:
        memory = dataclasses.replace(memory, dev_apps=frozenset(dev_apps))
    read = not memory.apps_fp or _changed(memory.apps_fp)
    if read:
        memory = _read_entries(memory, deadline)
    memos: dict[str, AppMemo] = {}
    redone: list[str] = []
    for entry in mark_dev(memory.entries, memory.dev_apps):
        prev = memory.memos.get(entry.path)
        if prev is not None and prev.entry == _key(entry) and not _changed(prev.fingerprint):
            if prev.app is not None and entry.line and prev.app.entry != entry:  # line moved
                prev = dataclasses.replace(prev, app=dataclasses.replace(prev.app, entry=entry))
            memos[entry.path] = prev
            continue
        memos[entry.path] = _evaluate_one(entry, prev, deadline, eval_app)
        redone.append(entry.path)
    memory = dataclasses.replace(memory, memos=memos)
    return Evaluated(_result(memory), memory, tuple(redone), read)


def _result(memory: EvalMemory) -> EvalResult:
    apps = tuple(m.app for m in memory.memos.values() if m.app is not None)
    app_errors = tuple(m.error for m in memory.memos.values() if m.error is not None)
    failed = {m.entry.path for m in memory.memos.values() if m.app is None}
    failed |= {e.app for e in memory.entry_errors if e.app not in memory.memos}
    warnings = (
        unknown_dev_apps(memory.entries, memory.dev_apps, memory.apps_file)
        if memory.apps_file_ok else ()
    )
    return EvalResult(
        apps=apps,
        errors=memory.file_errors + memory.entry_errors + app_errors,
        failed=frozenset(failed),
        apps_file_ok=memory.apps_file_ok,
        files=(memory.apps_file,),
        warnings=memory.file_warnings + warnings + app_warnings(apps),
    )
