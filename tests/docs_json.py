"""A JSON block of the docs as a shape that real output must have.

The docs show JSON with `...` for "more of the same" (`{"a": 1, ...}`, `["x", ...]`); strings
that contain `...` are values and only shown. A shown object lists the keys the output has:
every key shown must be there, and — unless the object ends in `...` or is shown empty (`{}`:
any map) — the output has no other key. A shown list's objects are examples: each must match
the shape of some object of the output's list (when the output's list is empty nothing is
compared). Values are not compared, only the keys of nested objects and lists.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_shown", "shape_errors"]

_MORE = "\x00more"  # what a bare `...` becomes: a key of an object, an item of a list


def parse_shown(text: str) -> Any:
    """Parse a JSON block of the docs, reading each bare `...` as a "more" marker."""
    out: list[str] = []
    stack: list[str] = []
    i, in_str = 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("...", i):
            out.append(json.dumps(_MORE) + (": null" if stack and stack[-1] == "{" else ""))
            i += 2
        else:
            if c in "{[":
                stack.append(c)
            elif c in "}]" and stack:
                stack.pop()
            out.append(c)
        i += 1
    return json.loads("".join(out))


def shape_errors(shown: Any, actual: Any, where: str = "$") -> list[str]:
    """How `actual` differs from the shape `shown` (empty when it has that shape)."""
    if actual is None:  # a value; `null` where an object may be (e.g. no last apply yet)
        return []
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)[:80]}"]
        return _object_errors(shown, actual, where)
    if isinstance(shown, list) and isinstance(actual, list):
        errors: list[str] = []
        for n, item in enumerate(x for x in shown if isinstance(x, dict)):
            if actual and all(shape_errors(item, got, where) for got in actual):
                best = min((shape_errors(item, got, f"{where}[*]") for got in actual), key=len)
                errors.append(f"{where}: no item has the shape of the shown item {n}: "
                              + "; ".join(best))
        return errors
    return []


def _object_errors(shown: dict[str, Any], actual: dict[str, Any], where: str) -> list[str]:
    keys = [k for k in shown if k != _MORE]
    errors = [f"{where}: key {k!r} is shown but not in the output" for k in keys
              if k not in actual]
    if shown and _MORE not in shown:
        errors += [f"{where}: key {k!r} is in the output but not shown" for k in actual
                   if k not in shown]
    for k in keys:
        if k in actual and isinstance(shown[k], (dict, list)) and shown[k]:
            errors += shape_errors(shown[k], actual[k], f"{where}.{k}")
    return errors
