"""Where an app's files are looked up, and where its `app(...)` call is (light: no Starlark
import, used on cache hits)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import replace
from pathlib import Path

from apps.model import App, AppEntry, EvalError

__all__ = [
    "KEEP_INSIDE",
    "SPEC_ROOT",
    "SourceEscape",
    "app_warnings",
    "column_of",
    "entry_column",
    "find_file",
    "known_specs",
    "search_dirs",
    "source_line",
    "symlink_escape",
]

SPEC_ROOT = Path(__file__).resolve().parent / "specs"


@functools.cache
def known_specs() -> tuple[str, ...]:
    """The built-in specs (ace's own files: read once per process)."""
    return tuple(sorted(p.name for p in SPEC_ROOT.iterdir() if (p / "app.star").is_file()))


def search_dirs(entry: AppEntry) -> tuple[str, ...]:
    """Where the app's files are looked up, first wins: the source, then the spec."""
    dirs: list[str] = []
    if entry.source not in ("", "-"):
        dirs.append(entry.source)
    if entry.spec:
        dirs.append(str(SPEC_ROOT / entry.spec))
    return tuple(dirs)


KEEP_INSIDE = "copy the file into the app source (symlinks that stay inside it are fine)"


class SourceEscape(ValueError):
    """A file of an app that resolves, through a symlink, to a place outside the app's
    directory; the message says so (see `symlink_escape`)."""


def symlink_escape(root: str, path: str) -> str:
    """"" when `path` (below `root` as written) stays inside `root` once symlinks are resolved,
    or does not exist; else "PATH leaves the app source ROOT: it resolves through a symlink to
    REAL" (a dangling link counts by where it points)."""
    if not os.path.lexists(path):
        return ""
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return ""
    return f"{path} leaves the app source {root}: it resolves through a symlink to {real}"


def find_file(dirs: tuple[str, ...], rel: str) -> str | None:
    """The first of `dirs` holding the file `rel` (absolute path), None when none does. Raises
    SourceEscape when it is there but a symlink takes it out of its dir."""
    for d in dirs:
        candidate = os.path.join(d, rel)
        escape = symlink_escape(d, candidate)
        if escape:
            raise SourceEscape(f"{escape}; {KEEP_INSIDE}")
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def column_of(text: str, hint: str = "") -> int:
    """1-based column of a call in a source line: the start of `a.b.hint(` if found, else the
    first non-blank character."""
    if hint:
        m = re.search(
            r"(?<![A-Za-z0-9_.])(?:[A-Za-z_][A-Za-z0-9_]*\.)*" + re.escape(hint) + r"\s*\(", text
        )
        if m:
            return m.start() + 1
    return len(text) - len(text.lstrip()) + 1 if text.strip() else 1


# path -> ((mtime_ns, size), lines): an apps file of 10,000 app(...) calls locates each one;
# reading the file from the top for each made evaluating it quadratic
_LINES: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {}


def source_line(file: str, line: int) -> str:
    """Line `line` (1-based) of `file` as written, "" when there is none. The file's lines are
    kept while its size and mtime stay the same."""
    try:
        st = os.stat(file)
        hit = _LINES.get(file)
        if hit is None or hit[0] != (st.st_mtime_ns, st.st_size):
            with open(file, encoding="utf-8") as f:
                lines = tuple(f.read().split("\n"))
            if len(_LINES) >= 64:
                _LINES.clear()
            hit = _LINES[file] = ((st.st_mtime_ns, st.st_size), lines)
    except (OSError, UnicodeDecodeError):
        return ""
    return hit[1][line - 1] if 0 < line <= len(hit[1]) else ""


def entry_column(entry: AppEntry) -> int:
    """The column of the `app(...)` call that declared `entry` (1 when the file cannot say)."""
    text = source_line(entry.file, entry.line)
    return column_of(text, "app") if text else 1


def app_warnings(evaluated: Iterable[App]) -> tuple[EvalError, ...]:
    """The warnings of evaluated apps (and, for a dev app that runs the normal way, why),
    each located at its app's `app(...)` call in the apps file as that call stands now (an
    App may come from a cache with an older line)."""
    out: list[EvalError] = []
    for app in evaluated:
        note = app.container.dev_note if app.container is not None else ""
        said = (*app.warnings, *((note,) if note else ()))  # why dev mode is not used
        if not said:
            continue
        entry = app.entry
        column = entry_column(entry)
        out.extend(EvalError(entry.path, entry.file, entry.line, column, w) for w in said)
    return tuple(out)


def mark_dev(entries: Iterable[AppEntry], dev_apps: Collection[str]) -> tuple[AppEntry, ...]:
    """The entries, those whose path is in `dev_apps` in dev mode as if the apps file said
    dev=True."""
    return tuple(
        replace(e, dev=True) if e.path in dev_apps and not e.dev else e for e in entries
    )


def unknown_dev_apps(
    entries: Iterable[AppEntry], dev_apps: Collection[str], apps_file: str
) -> tuple[EvalError, ...]:
    """A warning for each app asked to run in dev mode that the apps file does not declare."""
    declared = sorted(e.path for e in entries)
    return tuple(
        EvalError(
            path, apps_file, 0, 0,
            f"app {path} was asked to run in dev mode, but the apps file declares no such app "
            f"(apps: {', '.join(declared) or 'none'})",
        )
        for path in sorted(set(dev_apps) - set(declared))
    )
