"""Helpers for the container.config resolution tests: app dirs and located resolve calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from apps.container import resolve_container
from apps.errors import AppError
from apps.model import AppEntry, ContainerConfig

FILE, LINE, COLUMN = "/apps/x/app.star", 7, 17
SERVICE = {"Containerfile": "FROM busybox\nEXPOSE 8080\n"}


def make_app(tmp_path: Path, files: Mapping[str, str], name: str = "src") -> Path:
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def resolve(
    raw: Mapping[str, Any],
    src: Path | None,
    *,
    spec: Path | None = None,
    params: Mapping[str, Any] | None = None,
    env_params: Mapping[str, str] | None = None,
    secret: Callable[[str], str] | None = None,
    **entry_kw: Any,
) -> ContainerConfig:
    entry = AppEntry(path=entry_kw.pop("path", "/web"), source=str(src) if src else "-", **entry_kw)
    dirs = [str(d) for d in (src, spec) if d is not None]
    return resolve_container(
        raw,
        entry=entry,
        search_dirs=dirs,
        params=params or {},
        env_params=env_params or {},
        secret=secret,
        file=FILE,
        line=LINE,
        column=COLUMN,
    )


def resolve_error(raw: Mapping[str, Any], src: Path | None, **kw: Any) -> AppError:
    with pytest.raises(AppError) as info:
        resolve(raw, src, **kw)
    err = info.value
    assert (err.file, err.line, err.column) == (FILE, LINE, COLUMN)
    assert err.app == kw.get("path", "/web")
    return err
