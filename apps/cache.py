"""Skip the Starlark sandbox when nothing an evaluation depended on has changed.

A cached result is keyed by everything it read: the apps file's or app's files (size, mtime_ns,
inode), the directories files are looked up in (so an added Containerfile or app.star is seen),
the app's entry in the apps file, ace's own version, and — for apps that reference secrets —
the process environment. The entry includes its dev flag (after `dev_apps`), so a result of a
normal-mode evaluation is never served to a dev-mode one or back. Errors are never cached: a
broken app is evaluated every time.
The caller persists `CacheUpdate.save` / `.drop` (apps/ knows nothing of the database).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from apps.errors import AppError
from apps.limits import DEFAULT_DEADLINE, DEFAULT_MEMORY_LIMIT
from apps.locate import app_warnings, mark_dev, search_dirs, unknown_dev_apps
from apps.model import App, AppEntry, EvalError, EvalResult
from apps.preload import preload

__all__ = ["CACHE_SCHEME", "CacheUpdate", "evaluate_cached"]

CACHE_SCHEME = "ace-eval-1"


def _model_shape() -> str:
    """The field names of every cached value type: a model change invalidates old entries
    (a pickled value of an older shape would load with fields missing)."""
    from dataclasses import fields

    from apps import model

    types = (model.App, model.AppEntry, model.ContainerConfig, model.DevSettings, model.Volume,
             model.Route, model.Permission, model.Action, model.EvalError)
    return ";".join(t.__name__ + ":" + ",".join(f.name for f in fields(t)) for t in types)


_SHAPE = _model_shape()
APPS_FILE_SLOT = ""

Cache = Mapping[str, tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class _Declared:
    """What the apps file declared (a cache-friendly copy of appsfile.AppsFile)."""

    entries: tuple[AppEntry, ...]
    warnings: tuple[EvalError, ...] = ()
    errors: tuple[EvalError, ...] = ()
    failed: frozenset[str] = frozenset()
    ok: bool = True


@dataclass(slots=True)
class CacheUpdate:
    save: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)


def _stat(path: str) -> tuple[str, int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1, -1)
    return (path, st.st_size, st.st_mtime_ns, st.st_ino)


def _key(*parts: object) -> str:
    return hashlib.sha256(repr((CACHE_SCHEME, _SHAPE) + parts).encode()).hexdigest()


def _apps_file_key(path: str) -> str:
    return _key(_stat(path))


def _uses_secrets(app: App) -> bool:
    return any("{{" in str(v) and "secret" in str(v) for _, v in app.params) or any(
        "{{" in v and "secret" in v for _, v in app.entry.params
    )


def _app_key(entry: AppEntry, files: Sequence[str], environ: Mapping[str, str] | None,
             secrets: bool) -> str:
    dirs = search_dirs(entry)
    env = tuple(sorted(environ.items())) if secrets and environ is not None else ()
    return _key(repr(_unplaced(entry)), tuple(_stat(f) for f in files),
                tuple(_stat(d) for d in dirs), secrets, env)


def _unplaced(entry: AppEntry) -> AppEntry:
    """The entry without its line: moving an app(...) call in the apps file changes nothing."""
    return replace(entry, line=0)


def _load(blob: bytes) -> object | None:
    try:
        return pickle.loads(blob)
    except Exception:  # an entry from another ace version: evaluate afresh
        return None


def _read_apps_file(path: str, cache: Cache, upd: CacheUpdate, deadline: float,
                    memory_limit: int) -> _Declared:
    key = _apps_file_key(path)
    hit = cache.get(APPS_FILE_SLOT)
    if hit is not None and hit[0] == key:
        cached = _load(hit[1])
        if isinstance(cached, _Declared):
            return cached
    from apps.appsfile import read_apps_file

    # the app.star front end loads while the apps file's child runs: an edited apps file most
    # often changes an app too, which then needs it
    with preload("apps.runtime", first=True):
        raw, _ = read_apps_file(path, deadline=deadline, memory_limit=memory_limit)
    declared = _Declared(tuple(raw.entries), tuple(raw.warnings), tuple(raw.errors),
                         frozenset(raw.failed), raw.ok)
    if declared.ok and not declared.errors:
        upd.save[APPS_FILE_SLOT] = (key, pickle.dumps(declared))
    elif APPS_FILE_SLOT in cache:
        upd.drop.append(APPS_FILE_SLOT)
    return declared


def evaluate_cached(
    apps_file: str | Path,
    cache: Cache,
    *,
    deadline: float = DEFAULT_DEADLINE,
    environ: Mapping[str, str] | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    dev_apps: Collection[str] = frozenset(),
) -> tuple[EvalResult, CacheUpdate]:
    """Like `apps.evaluate` (`dev_apps` included), reusing cached apps whose inputs did not
    change. Cached apps carry no action runtime (`runtimes` holds only freshly evaluated apps):
    use `apps.evaluate` to run actions."""
    path = os.path.abspath(os.fspath(apps_file))
    env = dict(os.environ if environ is None else environ)
    upd = CacheUpdate()
    declared = _read_apps_file(path, cache, upd, deadline, memory_limit)
    apps: list[App] = []
    errors: list[EvalError] = list(declared.errors)
    failed = set(declared.failed)
    runtimes: dict[str, object] = {}
    entries = mark_dev(declared.entries, dev_apps)
    warnings = list(declared.warnings)
    if declared.ok:
        warnings += unknown_dev_apps(entries, dev_apps, path)
    hits: dict[str, App] = {}
    for entry in entries:
        hit = cache.get(entry.path)
        if hit is not None:
            cached = _load(hit[1])
            if isinstance(cached, App) and _unplaced(cached.entry) == _unplaced(entry) and (
                hit[0] == _app_key(entry, cached.files, env, _uses_secrets(cached))
            ):
                hits[entry.path] = replace(cached, entry=entry)
    misses = [e for e in entries if e.path not in hits]
    fresh: dict[str, tuple[App, object] | AppError] = {}
    if misses:  # the Starlark side loads only now: a fully cached pass never imports it
        from apps.runtime import evaluate_entries

        fresh = dict(zip([e.path for e in misses], evaluate_entries(
            misses, deadline=deadline, environ=env, memory_limit=memory_limit), strict=True))
    for entry in entries:
        if entry.path in hits:
            apps.append(hits[entry.path])
            continue
        done = fresh[entry.path]
        if isinstance(done, AppError):
            e = done
            errors.append(EvalError(e.app or entry.path, e.file, e.line, e.column, e.message))
            failed.add(entry.path)
            if entry.path in cache:
                upd.drop.append(entry.path)
            continue
        app, runtime = done
        apps.append(app)
        runtimes[entry.path] = runtime
        upd.save[entry.path] = (_app_key(entry, app.files, env, _uses_secrets(app)),
                                pickle.dumps(app))
    if declared.ok:
        declared_paths = {e.path for e in declared.entries} | {APPS_FILE_SLOT}
        upd.drop += [slot for slot in cache if slot not in declared_paths]
    result = EvalResult(
        apps=tuple(apps), errors=tuple(errors), failed=frozenset(failed),
        apps_file_ok=declared.ok, files=(path,),
        warnings=tuple(warnings) + app_warnings(apps), runtimes=runtimes,
    )
    return result, upd
