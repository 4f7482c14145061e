"""Presenting an action's `ace.result(...)` and the list of actions (rich for people; JSON via
`render.print_json` for machines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from apps.model import App
from reconciler.cli import render

__all__ = ["actions_json", "print_actions", "print_result"]


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=False)


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in cols:
                cols.append(str(key))
    return cols


def print_result(result: dict[str, Any], *, console: Console | None = None) -> None:
    """Status line, then the values: a table for a list of dicts, lines for a list of strings,
    JSON otherwise; `param_errors` on stderr."""
    out = console or render.console
    status = result.get("status") or ""
    if status:
        out.print(f"[bold]{escape(str(status))}[/]", soft_wrap=True)
    values = result.get("values")
    if isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
        table = Table(show_header=True, header_style="bold", show_edge=False, pad_edge=False)
        cols = _columns(values)
        for c in cols:
            table.add_column(escape(c), overflow="fold")
        for row in values:
            table.add_row(*(escape(_cell(row[c])) if c in row else "" for c in cols))
        out.print(table)
    elif isinstance(values, list):
        for v in values:
            out.print(Text(_cell(v)), soft_wrap=True)
    elif values not in (None, "", {}):
        out.print(Text(_cell(values)), soft_wrap=True)
    errors = result.get("param_errors") or {}
    for name, message in errors.items():
        render.err_console.print(f"[yellow]param {escape(str(name))}[/]: {escape(str(message))}",
                                 soft_wrap=True)


def actions_json(apps: Iterable[App]) -> list[dict[str, Any]]:
    return [{"app": a.path, "name": a.name,
             "actions": [{"name": x.name, "path": x.path, "description": x.description}
                         for x in a.actions]} for a in apps]


def print_actions(apps: Iterable[App], *, console: Console | None = None) -> None:
    out = console or render.console
    table = Table(show_header=True, header_style="bold", show_edge=False, pad_edge=False)
    for col in ("APP", "ACTION", "PATH", "DESCRIPTION"):
        table.add_column(col, overflow="fold")
    rows = 0
    for a in apps:
        for x in a.actions:
            table.add_row(escape(a.path), escape(x.name), escape(x.path), escape(x.description))
            rows += 1
    if rows:
        out.print(table)
    else:
        out.print("no actions")
