"""Where an app's files are looked up, and where its `app(...)` call is (light: no Starlark
import, used on cache hits)."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable
from dataclasses import replace
from pathlib import Path

from apps.model import App, AppEntry, EvalError

__all__ = [
    "SPEC_ROOT",
    "app_warnings",
    "column_of",
    "entry_column",
    "find_file",
    "known_specs",
    "search_dirs",
]

SPEC_ROOT = Path(__file__).resolve().parent / "specs"


def known_specs() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in SPEC_ROOT.iterdir() if (p / "app.star").is_file()))


def search_dirs(entry: AppEntry) -> tuple[str, ...]:
    """Where the app's files are looked up, first wins: the source, then the spec."""
    dirs: list[str] = []
    if entry.source not in ("", "-"):
        dirs.append(entry.source)
    if entry.spec:
        dirs.append(str(SPEC_ROOT / entry.spec))
    return tuple(dirs)


def find_file(dirs: tuple[str, ...], rel: str) -> str | None:
    for d in dirs:
        candidate = os.path.join(d, rel)
        if os.path.isfile(candidate):
            real, root = os.path.realpath(candidate), os.path.realpath(d)
            if real == root or real.startswith(root + os.sep):
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


def entry_column(entry: AppEntry) -> int:
    """The column of the `app(...)` call that declared `entry` (1 when the file cannot say)."""
    try:
        with open(entry.file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    if 0 < entry.line <= len(lines):
        return column_of(lines[entry.line - 1], "app")
    return 1


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
