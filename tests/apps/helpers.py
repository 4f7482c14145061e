"""Shared helpers for the apps tests: write app trees into tmp_path and evaluate them."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import apps
from apps.model import App, EvalError, EvalResult

ENV: dict[str, str] = {}


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write `files` (relative path -> text, dedented) under root; return root."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def evaluate_files(
    tmp_path: Path,
    files: Mapping[str, str],
    apps_star: str = 'app("/a", "src")\n',
    **kw: Any,
) -> EvalResult:
    """Write an app source at tmp_path/src (files) and an apps file, and evaluate it."""
    write_tree(tmp_path / "src", files)
    (tmp_path / "apps.star").write_text(textwrap.dedent(apps_star).lstrip("\n"))
    kw.setdefault("environ", ENV)
    return apps.evaluate(tmp_path / "apps.star", **kw)


def only_app(result: EvalResult) -> App:
    assert result.errors == (), result.errors
    assert len(result.apps) == 1
    return result.apps[0]


def only_error(result: EvalResult) -> EvalError:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


def assert_error(
    err: EvalError, *, message: str, file: Path | str, line: int, column: int, app: str = "/a"
) -> None:
    """Compare a located error: message substring and the exact location."""
    assert message in err.message, err
    assert (err.app, err.file, err.line, err.column) == (app, str(file), line, column), err
