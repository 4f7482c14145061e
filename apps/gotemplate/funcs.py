"""Go text/template's predefined functions (`and` and `or` short-circuit in the evaluator).

Each follows Go 1.19's funcs.go: comparisons accept basic values of one kind (`eq 1 1.0` is an
error, as in Go), `len` counts a string's UTF-8 bytes, `index "abc" 1` is the byte 98, `index`
of a missing key is the map's zero value, `js` and `html` escape as Go does. One deliberate
difference: `slice` accepts an int read from a map (`slice .s 0 .n`), which Go 1.19 refuses
("cannot index slice/array with type interface {}") while `index` accepts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from apps.gotemplate.gofmt import sprint, sprintf, sprintln
from apps.gotemplate.values import StringMap, go_type, is_nil, is_true

__all__ = ["BUILTINS", "SHORT_CIRCUIT", "Builtin", "FuncError"]

SHORT_CIRCUIT = frozenset({"and", "or"})


class FuncError(Exception):
    """A builtin's refusal; the evaluator adds the line and the action."""


@dataclass(frozen=True)
class Builtin:
    """A predefined function: its arity and whether missing values reach it as nil (Go's
    `interface{}` parameters) or as they are (Go's `reflect.Value` parameters)."""

    call: Callable[..., Any]
    min_args: int
    max_args: int | None
    nil_args: bool = False


def _index_arg(index: Any, cap: int) -> int:
    if is_nil(index):
        raise FuncError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise FuncError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if is_nil(item):
        raise FuncError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise FuncError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            items: Sequence[Any] = item.encode("utf-8") if isinstance(item, str) else item
            position = _index_arg(index, len(items))
            if position == len(items):
                raise FuncError(f"index out of range: {position}")
            item = items[position]
        elif isinstance(item, Mapping):
            if is_nil(index):
                raise FuncError("value is nil; should be of type string")
            if not isinstance(index, str):
                raise FuncError(f"value has type {go_type(index)}; should be string")
            zero = "" if isinstance(item, StringMap) else None
            item = item.get(index, zero)
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if is_nil(item):
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        items: Sequence[Any] = item.encode("utf-8")
    elif isinstance(item, list | tuple):
        items = item
    else:
        raise FuncError(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(items), len(items)]
    for number, index in enumerate(indexes):
        bounds[number] = _index_arg(index, len(items))
    low, high, limit = bounds
    if low > high or high > limit:
        raise FuncError(f"invalid slice index: {low} > {high}" if low > high
                        else f"invalid slice index: {high} > {limit}")
    if isinstance(items, bytes):
        try:
            return items[low:high].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FuncError("the slice splits a multi-byte UTF-8 character") from exc
    return list(items[low:high])


def _length(item: Any) -> int:
    if is_nil(item):
        raise FuncError("len of untyped nil")
    if isinstance(item, str):
        return len(item.encode("utf-8"))
    if isinstance(item, Mapping | list | tuple):
        return len(item)
    raise FuncError(f"len of type {go_type(item)}")


def _kind(value: Any) -> str:
    if is_nil(value):
        return "invalid"
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("string", str)):
        if isinstance(value, types):
            return kind
    return "invalid"  # maps and lists: not basic values


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    kind = _kind(first)
    for other in others:
        if kind != _kind(other):
            if not is_nil(first) and not is_nil(other):
                raise FuncError("incompatible types for comparison")
        elif kind != "invalid":
            if first == other:
                return True
        elif is_nil(first) or is_nil(other):
            if is_nil(first) and is_nil(other):
                return True
        else:
            raise FuncError(f"non-comparable type {go_type(first)}")
    return False


def _lt(first: Any, second: Any) -> bool:
    kinds = (_kind(first), _kind(second))
    if "invalid" in kinds:
        raise FuncError("invalid type for comparison")
    if kinds[0] != kinds[1]:
        raise FuncError("incompatible types for comparison")
    if kinds[0] == "bool":
        raise FuncError("invalid type for comparison")
    return bool(first < second)


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise FuncError(f"the format must be a string, not {go_type(fmt)}")
    return sprintf(fmt, args)


def _eval_args(args: Sequence[Any]) -> str:
    """Go's evalArgs: one string as is, else fmt.Sprint with nil shown as <no value>."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(["<no value>" if is_nil(arg) else arg for arg in args])


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
       "=": "\\u003D"}


def _html(*args: Any) -> str:
    return "".join(_HTML.get(ch, ch) for ch in _eval_args(args))


def _js_char(ch: str) -> str:
    if ch in _JS:
        return _JS[ch]
    if ch < " ":
        return f"\\u{ord(ch):04X}"
    if ord(ch) >= 0x80 and not ch.isprintable():
        return f"\\u{ord(ch):04X}"
    return ch


def _js(*args: Any) -> str:
    return "".join(_js_char(ch) for ch in _eval_args(args))


def _urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args), safe="")


BUILTINS: Mapping[str, Builtin] = {
    "eq": Builtin(_eq, 1, None),
    "ge": Builtin(lambda a, b: not _lt(a, b), 2, 2),
    "gt": Builtin(lambda a, b: not (_lt(a, b) or _eq(a, b)), 2, 2),
    "html": Builtin(_html, 0, None, nil_args=True),
    "index": Builtin(_index, 1, None),
    "js": Builtin(_js, 0, None, nil_args=True),
    "le": Builtin(lambda a, b: _lt(a, b) or _eq(a, b), 2, 2),
    "len": Builtin(_length, 1, 1),
    "lt": Builtin(_lt, 2, 2),
    "ne": Builtin(lambda a, b: not _eq(a, b), 2, 2),
    "not": Builtin(lambda a: not is_true(a), 1, 1),
    "print": Builtin(lambda *args: sprint(args), 0, None, nil_args=True),
    "printf": Builtin(_printf, 1, None, nil_args=True),
    "println": Builtin(lambda *args: sprintln(args), 0, None, nil_args=True),
    "slice": Builtin(_slice, 1, None),
    "urlquery": Builtin(_urlquery, 0, None, nil_args=True),
}
