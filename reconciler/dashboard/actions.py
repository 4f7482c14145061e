"""Actions in the browser, as OpenRun shows them: a form field per param (its type, current
value and description; `hidden` params and `options_X` lists left out; PASSWORD, TEXTAREA and
COMBO display types honoured; a param with an `options_X` list is a choice among them), the
posted form turned back into `NAME=VALUE` params, and the run itself — `ace run`'s
`run_action`, so permissions, timeouts and the lock rules are the same."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.errors import AceError
from apps.model import Action, App
from apps.params import ParamDecl

__all__ = ["ActionRunner", "Describer", "FormField", "describe_app", "form_fields",
           "form_params", "run_with"]

_OPTIONS = ("options_", "options-")
_TRUE = ("on", "true", "1", "yes")

# describe(app path) -> the app and its param declarations (evaluated now)
Describer = Callable[[str], tuple[App, Sequence[ParamDecl]]]
# run(app path, action name, ["NAME=VALUE", ...], dry_run) -> {"status", "values", ...}
ActionRunner = Callable[[str, str, Sequence[str], bool], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    description: str
    kind: str  # text, password, textarea, checkbox, select, combo
    value: str
    options: tuple[str, ...] = ()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else json.dumps(value)


def _options(decls: Sequence[ParamDecl], values: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in decls:
        for prefix in _OPTIONS:
            if d.name.startswith(prefix):
                raw = values.get(d.name, d.default)
                if isinstance(raw, str):
                    try:
                        raw = json.loads(raw)
                    except ValueError:
                        raw = []
                if isinstance(raw, list):
                    out[d.name[len(prefix):]] = [_text(x) for x in raw]
    return out


def _visible(decls: Sequence[ParamDecl], hidden: Iterable[str]) -> list[ParamDecl]:
    skip = set(hidden)
    return [d for d in decls if d.name not in skip and not d.name.startswith(_OPTIONS)]


def form_fields(app: App, action: Action, decls: Sequence[ParamDecl],
                given: Mapping[str, str] | None = None) -> list[FormField]:
    """The action form's fields, filled with `given` (a posted form) or the app's values."""
    values = dict(app.params)
    options = _options(decls, values)
    out: list[FormField] = []
    for d in _visible(decls, action.hidden):
        if given is not None:
            value = given.get(d.name, "false" if d.type == "BOOLEAN" else "")
        else:
            value = _text(values.get(d.name, d.default))
        if d.type == "BOOLEAN":
            kind = "checkbox"
        elif d.display_type == "COMBO":
            kind = "combo"
        elif d.name in options:
            kind = "select"
        else:
            kind = {"PASSWORD": "password", "TEXTAREA": "textarea"}.get(d.display_type, "text")
        if kind == "password" and given is None:
            value = ""  # a secret's value is never sent to the page; empty keeps the app's
        out.append(FormField(d.name, d.description, kind, value,
                             tuple(options.get(d.name, ()))))
    return out


def form_params(app: App, action: Action, decls: Sequence[ParamDecl],
                form: Mapping[str, str]) -> list[str]:
    """The posted form as `NAME=VALUE` params for `run_action`. Only the form's own fields
    are taken (a hidden param posted anyway is ignored); an unchecked box is false; an empty
    password keeps the app's value; a choice must be one of its options."""
    options = _options(decls, dict(app.params))
    out: list[str] = []
    for d in _visible(decls, action.hidden):
        if d.type == "BOOLEAN":
            out.append(f"{d.name}={'true' if form.get(d.name, '').lower() in _TRUE else 'false'}")
            continue
        if d.name not in form:
            continue
        value = form[d.name]
        if d.display_type == "PASSWORD" and value == "":
            continue
        choices = options.get(d.name)
        if choices and d.display_type != "COMBO" and value and value not in choices:
            raise AceError(f"param {d.name}: {value!r} is not one of {', '.join(choices)}")
        out.append(f"{d.name}={value}")
    return out


def describe_app(apps_file: str, deadline: float) -> Describer:
    """Evaluate one app of the apps file (for its form), now."""

    def describe(path: str) -> tuple[App, Sequence[ParamDecl]]:
        import apps

        entry = next((e for e in apps.load_entries(apps_file, deadline=deadline)
                      if e.path == path), None)
        if entry is None:
            raise AceError(f"unknown app {path}")
        app, runtime = apps.evaluate_entry(entry, deadline=deadline)
        return app, runtime.decls

    return describe


def run_with(settings: Any, engine: Any, timeout: float | None = None) -> ActionRunner:
    """`ace run`'s `run_action` on these settings and engine."""

    def run(path: str, action: str, params: Sequence[str], dry_run: bool) -> dict[str, Any]:
        from reconciler.actions.run import run_action
        from reconciler.actions.runner import DEFAULT_TIMEOUT

        done = run_action(settings, engine, path, action, params, dry_run=dry_run,
                          timeout=timeout or DEFAULT_TIMEOUT)
        return done.to_json()

    return run
