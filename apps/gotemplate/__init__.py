"""A Go text/template engine for the subset templates use; output matches Go (1.19 checked).

Supported:

- text copied; `{{- ` / ` -}}` trim markers (the dash needs a space, tab or newline next to it;
  all adjacent whitespace, newlines included, is removed); `{{/* comments */}}`;
- `.`, `$`, fields `.a.b`, `$x.a`, `(pipeline).a`; variables `$x := pipeline`, `$x = pipeline`,
  scoped to the enclosing `if`/`with`/`range` as in Go;
- `if` / `else if` / `else`, `with` / `else with` / `else`, `range` over maps (sorted keys)
  and lists with `$i, $v :=`, `$v :=` or neither (dot is the element), `{{else}}` when empty,
  `break`, `continue`;
- pipelines `a | b` (the value becomes b's last argument), parenthesised pipelines;
- literals: "strings" with Go escapes, `raw strings`, ints (0x, 0o, 0b, 0 octal, _), floats,
  'c' characters, true, false, nil;
- functions: and, or (short-circuit, returning the deciding value), not, eq (eq a b c is
  a==b || a==c), ne, lt, le, gt, ge, len, index, slice, print, printf, println, html, js,
  urlquery, plus the caller's functions (`secret`), which take one string.

Values print as Go's fmt does (`map[a:1 b:2]`, `[x y]`, `<nil>`). Missing map keys follow Go's
default ("missingkey=default"): `{{.params.nope}}` prints `<no value>`, and so does `{{.x}}`
when x is nil; passed to a function a missing value is nil (`{{print .nope}}` prints `<nil>`);
`{{index .params "nope"}}` gives the map's zero value, "" for OpenRun's `map[string]string`
params (use `StringMap`) and nil, printed `<no value>`, for a `map[string]interface{}` (a dict).

printf implements %v %T %t %d %b %o %c %q %x %X %e %E %f %F %g %G %s %% with flags, widths
and precisions; a mismatched operand prints Go's `%!d(string=x)`.

Everything else is a `TemplateError` naming the line: `define`, `template` and `block`, method
calls, functions that are not listed, complex numbers, the Go verbs %U %O %p, `%#v` and `*`
widths. Unclosed actions, comments, parentheses and blocks are parse errors naming the line
where they open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apps.gotemplate.evaluate import execute
from apps.gotemplate.funcs import BUILTINS, SHORT_CIRCUIT
from apps.gotemplate.parse import parse
from apps.gotemplate.values import MISSING, StringMap, TemplateError

__all__ = ["BUILTIN_NAMES", "MISSING", "StringMap", "TemplateError", "render"]

BUILTIN_NAMES = frozenset(BUILTINS) | SHORT_CIRCUIT
_MAX_DATA_DEPTH = 64


def _check_data(value: Any, path: str, depth: int = 0) -> None:
    """Template data must be values with a Go equivalent (see values.py)."""
    if depth > _MAX_DATA_DEPTH:
        raise TemplateError(f"template data {path} nests more than {_MAX_DATA_DEPTH} deep")
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TemplateError(f"template data {path} has the non-string key {key!r}")
            if isinstance(value, StringMap) and not isinstance(item, str):
                raise TemplateError(f"template data {path}.{key} must be a string")
            _check_data(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list | tuple):
        for number, item in enumerate(value):
            _check_data(item, f"{path}[{number}]", depth + 1)
    else:
        raise TemplateError(
            f"template data {path} is a {type(value).__name__}, which has no Go equivalent "
            "(use str, int, float, bool, None, list or dict)"
        )


def render(
    text: str, data: Any, functions: Mapping[str, Callable[[str], str]] | None = None
) -> str:
    """Render Go template `text` with `data` as dot; `functions` adds one-string functions."""
    extra = dict(functions or {})
    if clash := sorted(BUILTIN_NAMES & set(extra)):
        raise ValueError(f"functions {clash} would replace Go's predefined functions")
    _check_data(data, "data")
    tree = parse(text, BUILTIN_NAMES | frozenset(extra))
    return execute(tree, data, extra)
