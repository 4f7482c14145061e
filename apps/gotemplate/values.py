"""The Go value model the template engine works on, mapped onto Python values.

| Python                      | Go                        |
| --------------------------- | ------------------------- |
| `str`                       | `string`                  |
| `bool`                      | `bool`                    |
| `int`                       | `int`                     |
| `float`                     | `float64`                 |
| `None`                      | a nil `interface{}`       |
| `list` / `tuple`            | `[]interface{}`           |
| `dict`                      | `map[string]interface{}`  |
| `StringMap`                 | `map[string]string`       |
| `MISSING`                   | the invalid reflect.Value (a missing map key, an unset value) |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = [
    "MISSING",
    "StringMap",
    "TemplateError",
    "go_type",
    "is_nil",
    "is_true",
    "sorted_keys",
]


class TemplateError(Exception):
    """A template that cannot be parsed or executed; the message names the line."""


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class StringMap(dict[str, str]):
    """A `map[string]string`: `index` of a missing key gives "" (a `dict` gives nil)."""


def is_nil(value: Any) -> bool:
    """Nil or missing: what Go's comparison and index functions see as an invalid value."""
    return value is None or value is MISSING


def go_type(value: Any) -> str:
    """The Go type name of a value, as `%T` and Go's error messages print it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, StringMap):
        return "map[string]string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if is_nil(value):
        return "<nil>"
    raise TemplateError(
        f"template data holds a {type(value).__name__}, which has no Go equivalent "
        "(use str, int, float, bool, None, list or dict)"
    )


def is_true(value: Any) -> bool:
    """Go's truth: false, 0, nil, and empty strings, maps and lists are false."""
    if is_nil(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | Mapping | list | tuple):
        return len(value) > 0
    go_type(value)  # raises for values with no Go equivalent
    return True


def _key_order(key: Any) -> tuple[int, Any]:
    if isinstance(key, bool):
        return (0, key)
    if isinstance(key, int | float):
        return (1, key)
    if isinstance(key, str):
        return (2, key)  # code point order is UTF-8 byte order, as Go sorts strings
    return (3, repr(key))


def sorted_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    """Map keys in the order Go's fmt and `range` visit them (sorted)."""
    keys: Iterable[Any] = mapping.keys()
    return sorted(keys, key=_key_order)
