"""params.star: parameter declarations, and resolution of the values supplied in the apps file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import starlark as sl

from apps.declarations import eval_declarations
from apps.errors import AppError
from apps.sandbox import (
    BUILTIN_PREFIX,
    Deadline,
    ErrorSink,
    Location,
    locate,
    starlark_error,
)

__all__ = [
    "TYPES",
    "ParamDecl",
    "convert_value",
    "evaluate_params",
    "resolve_params",
    "undeclared_warning",
]

TYPES = ("STRING", "INT", "BOOLEAN", "LIST", "DICT")
DISPLAY_TYPES = ("PASSWORD", "TEXTAREA", "FILE", "COMBO")
ZERO: dict[str, Any] = {"STRING": "", "INT": 0, "BOOLEAN": False, "LIST": [], "DICT": {}}
_TYPE_WORDS = {"STRING": "a string", "INT": "an int", "BOOLEAN": "a boolean", "LIST": "a list",
               "DICT": "a dict"}
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    type: str
    default: Any  # the value used when none is supplied (None: required, no default)
    required: bool
    description: str
    display_type: str
    location: Location


_PRELUDE = (
    "\n".join(f'{t} = "{t}"' for t in TYPES + DISPLAY_TYPES)
    + """
def param(name, type=STRING, default=None, description="", required=True, display_type="",
          **kwargs):
    _ace_param(call_stack(), name, type, default, description, required, display_type,
               sorted(kwargs.keys()))
"""
)


def _is_type(value: Any, typ: str) -> bool:
    if typ == "STRING":
        return isinstance(value, str)
    if typ == "INT":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "BOOLEAN":
        return isinstance(value, bool)
    if typ == "LIST":
        return isinstance(value, list)
    return isinstance(value, dict)


def evaluate_params(
    app: str, path: str, source: str, deadline: Deadline
) -> tuple[ParamDecl, ...]:
    """Evaluate one params.star text; raise a located AppError on any mistake."""
    sink = ErrorSink()
    decls: dict[str, ParamDecl] = {}

    def is_user(file: str) -> bool:
        return not file.startswith(BUILTIN_PREFIX)

    def param_(
        call_stack: str,
        name: Any,
        typ: Any,
        default: Any,
        description: Any,
        required: Any,
        display_type: Any,
        extra: list[str],
    ) -> None:
        loc = locate(call_stack, is_user, "param") or Location(path, 1, 1)

        def fail(message: str) -> AppError:
            return sink.record(
                AppError(message, app=app, file=loc.file, line=loc.line, column=loc.column)
            )

        if not isinstance(name, str) or not name:
            raise fail(f"param name must be a non-empty string, got {json.dumps(name)}")
        if extra:
            raise fail(f"param {name}: unknown keyword argument {extra[0]!r}")
        if typ not in TYPES:
            raise fail(f"param {name}: unknown type {typ!r}; use one of {', '.join(TYPES)}")
        if name in decls:
            first = decls[name].location.line
            raise fail(f"param {name} is declared twice (first at line {first})")
        if not isinstance(required, bool):
            raise fail(f"param {name}: required must be True or False")
        if default is not None and not _is_type(default, typ):
            raise fail(
                f"param {name}: default value {json.dumps(default)} is not {_TYPE_WORDS[typ]} "
                f"(type {typ})"
            )
        if default is None and not required:
            default = json.loads(json.dumps(ZERO[typ]))
        decls[name] = ParamDecl(
            name=name,
            type=typ,
            default=default,
            required=required,
            description=description if isinstance(description, str) else "",
            display_type=display_type if isinstance(display_type, str) else "",
            location=loc,
        )

    try:
        eval_declarations("params", _PRELUDE, "_ace_param", param_, path, source, deadline, sink,
                          app=app)
    except (sl.StarlarkError, AppError) as e:
        raise starlark_error(
            e, app=app, sink=sink, is_user=is_user, deadline=deadline,
            fallback=Location(path, 1, 1),
        ) from None
    return tuple(decls.values())


def convert_value(decl: ParamDecl, value: str) -> Any:
    """Convert a supplied string to the declared type; ValueError names the param."""
    typ = decl.type
    if typ == "STRING":
        return value
    if typ == "INT":
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"param {decl.name} is not an int") from None
    if typ == "BOOLEAN":
        if value.strip() in _TRUE:
            return True
        if value.strip() in _FALSE:
            return False
        raise ValueError(f"param {decl.name} is not a boolean (use true or false)")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not _is_type(parsed, typ):
        raise ValueError(f"param {decl.name} is not a {typ.lower()} (give a JSON {typ.lower()})")
    return parsed


def resolve_params(
    app: str,
    decls: Sequence[ParamDecl],
    supplied: Mapping[str, str],
    where: Location,
) -> tuple[dict[str, Any], dict[str, Location], dict[str, str]]:
    """Typed values in declaration order, where each value came from (`where` for values
    supplied in the apps file, the declaration otherwise), and the supplied values of params
    params.star does not declare (as given: strings, other values JSON-encoded). As in OpenRun
    those are not errors: app.star cannot read them, the container gets them as environment."""

    def fail(message: str) -> AppError:
        return AppError(message, app=app, file=where.file, line=where.line, column=where.column)

    declared = {d.name for d in decls}
    undeclared = {name: value for name, value in supplied.items() if name not in declared}
    values: dict[str, Any] = {}
    origin: dict[str, Location] = {}
    for d in decls:
        if d.name in supplied:
            try:
                values[d.name] = convert_value(d, supplied[d.name])
            except ValueError as e:
                raise fail(str(e)) from None
            origin[d.name] = where
        elif d.default is not None:
            values[d.name] = d.default
            origin[d.name] = d.location
        else:
            raise fail(f"param {d.name} is a required param, a value has to be provided")
    return values, origin, undeclared


def undeclared_warning(name: str, declared: Sequence[str], has_container: bool) -> str:
    """The warning for a supplied param that params.star does not declare: what happens to it,
    and the declared name it is closest to (a likely typo), compared without case."""
    known = ", ".join(declared) or "none"
    if has_container and name != "secrets":
        effect = (
            f"it is passed to the container's environment as {name}, but app.star cannot read "
            f"it as param.{name}"
        )
    else:
        effect = "it has no effect: app.star cannot read it and no container receives it"
    import difflib  # only an undeclared param needs it

    by_lower = {d.lower(): d for d in declared}
    # 0.8, not difflib's 0.6: APP_ARGS is not a typo of app_name (0.75), app_fle is of app_file
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.8)
    hint = f'; did you mean "{by_lower[close[0]]}"?' if close else ""
    return f"param {name} is not declared in params.star (declared params: {known}): {effect}{hint}"

