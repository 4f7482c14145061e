"""Rendering `cl_secret` volume templates: the subset of Go text/template that app specs use.

OpenRun renders a `cl_secret:./file.tmpl:/target` template with Go's text/template and the data
`{"params": {name: value-as-string}}`, so templates read params as `{{ .params.name }}`. ace
implements that subset and refuses everything else with a message rather than guessing:

- text outside actions is copied unchanged;
- `{{ .params.NAME }}` and `{{ index .params "NAME" }}` print a param (a name that is not a
  param is an error, where Go would print nothing);
- `{{ secret "KEY" }}` prints a secret through the caller's lookup (which enforces the app's
  secret allow-list); without a lookup it is an error;
- `{{ "literal" }}` prints the string;
- `{{- ... -}}` trim markers and `{{/* comments */}}` behave as in Go.

Pipelines (`|`), control structures (`if`, `range`, `with`, ...), variables and other functions
are errors naming the action and its line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

__all__ = ["TemplateError", "render_template"]

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_FIELD = re.compile(r"^\.params\.([A-Za-z_][A-Za-z0-9_]*)$")
_STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'
_INDEX = re.compile(rf"^index\s+\.params\s+({_STRING})$")
_SECRET = re.compile(rf"^secret\s+({_STRING})$")
_LITERAL = re.compile(rf"^({_STRING})$")


class TemplateError(Exception):
    """A template that cannot be rendered; the message names the line and what to change."""


def _unquote(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    try:
        value = json.loads(literal)
    except ValueError as exc:
        raise TemplateError(f"bad string literal {literal}") from exc
    return str(value)


def _param(name: str, params: Mapping[str, str], line: int) -> str:
    if name not in params:
        known = ", ".join(sorted(params)) or "none"
        raise TemplateError(f"line {line}: .params has no {name!r} (params: {known})")
    return params[name]


def _evaluate(
    action: str, params: Mapping[str, str], secret: Callable[[str], str] | None, line: int
) -> str:
    if m := _FIELD.match(action):
        return _param(m.group(1), params, line)
    if m := _INDEX.match(action):
        return _param(_unquote(m.group(1)), params, line)
    if m := _SECRET.match(action):
        key = _unquote(m.group(1))
        if secret is None:
            raise TemplateError(
                f'line {line}: {{{{secret "{key}"}}}} needs secrets, which are not available '
                "here; pass the value as a param instead"
            )
        try:
            return secret(key)
        except Exception as exc:  # the caller's refusal (not permitted, not set) becomes located
            raise TemplateError(f'line {line}: {{{{secret "{key}"}}}}: {exc}') from exc
    if m := _LITERAL.match(action):
        return _unquote(m.group(1))
    raise TemplateError(
        f"line {line}: unsupported template action {{{{{action}}}}}; ace supports "
        '{{ .params.NAME }}, {{ index .params "NAME" }}, {{ secret "KEY" }}, string literals '
        "and {{/* comments */}}"
    )


def render_template(
    text: str, params: Mapping[str, str], secret: Callable[[str], str] | None = None
) -> str:
    """Render `text` with `params` (values already strings, as the container sees them)."""
    out: list[str] = []
    pos = 0
    for m in _ACTION.finditer(text):
        before = text[pos : m.start()]
        if m.group(1):
            before = before.rstrip(" \t\r\n")
        out.append(before)
        line = text.count("\n", 0, m.start()) + 1
        action = m.group(2).strip()
        if not (action.startswith("/*") and action.endswith("*/")):
            out.append(_evaluate(action, params, secret, line))
        pos = m.end()
        if m.group(3):
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
    rest = text[pos:]
    if "{{" in rest:
        line = text.count("\n", 0, pos + rest.index("{{")) + 1
        raise TemplateError(f"line {line}: unclosed action: '{{{{' without a matching '}}}}'")
    out.append(rest)
    return "".join(out)
