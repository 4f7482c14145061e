"""Where an app's files are looked up (light: no Starlark import, used on cache hits)."""

from __future__ import annotations

import os
from pathlib import Path

from apps.model import AppEntry

__all__ = ["SPEC_ROOT", "find_file", "known_specs", "search_dirs"]

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
