"""params.star declarations and the resolution of supplied values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .helpers import assert_error, evaluate_files, only_app, only_error

USE_ALL = 'app = ace.app("x")\n'

PARAMS = '''
param("s")
param("i", type=INT, default=7)
param("b", type=BOOLEAN, required=False)
param("l", type=LIST, default=[1, "two"])
param("d", type=DICT, required=False)
param("zs", required=False)
param("zi", type=INT, required=False)
param("zl", type=LIST, required=False, description="x", display_type=TEXTAREA)
'''


def test_defaults_zero_values_and_declaration_order(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path, {"params.star": PARAMS, "app.star": USE_ALL},
        'app("/a", "src", params={"s": "hello"})\n',
    )
    assert only_app(result).params == (
        ("s", "hello"), ("i", 7), ("b", False), ("l", [1, "two"]), ("d", {}), ("zs", ""),
        ("zi", 0), ("zl", []),
    )


CONVERSIONS: list[tuple[str, str, Any]] = [
    ("STRING", "x y", "x y"),
    ("INT", "42", 42),
    ("INT", " -3 ", -3),
    ("BOOLEAN", "true", True),
    ("BOOLEAN", "False", False),
    ("BOOLEAN", "1", True),
    ("LIST", '[1, "a"]', [1, "a"]),
    ("DICT", '{"k": [1]}', {"k": [1]}),
]


@pytest.mark.parametrize(("typ", "supplied", "expected"), CONVERSIONS)
def test_supplied_values_are_converted(
    tmp_path: Path, typ: str, supplied: str, expected: Any
) -> None:
    result = evaluate_files(
        tmp_path,
        {"params.star": f'param("p", type={typ})\n', "app.star": USE_ALL},
        f"app(\"/a\", \"src\", params={{\"p\": {supplied!r}}})\n",
    )
    assert only_app(result).params == (("p", expected),)


def test_non_string_values_in_apps_file_convert(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {
            "params.star": 'param("i", type=INT)\nparam("b", type=BOOLEAN)\n'
                           'param("l", type=LIST)\nparam("d", type=DICT)\n',
            "app.star": USE_ALL,
        },
        'app("/a", "src", params={"i": 8080, "b": True, "l": ["x"], "d": {"k": 1}})\n',
    )
    assert only_app(result).params == (("i", 8080), ("b", True), ("l", ["x"]), ("d", {"k": 1}))


# (params.star, supplied params, message, file ("params" or "apps"), line, column)
PARAM_ERRORS = [
    ('param("port", type=INT)\n', {"port": "abc"}, "param port is not an int", "apps", 1, 1),
    ('param("b", type=BOOLEAN)\n', {"b": "yes"}, "param b is not a boolean", "apps", 1, 1),
    ('param("l", type=LIST)\n', {"l": "{}"}, "param l is not a list", "apps", 1, 1),
    ('param("d", type=DICT)\n', {"d": "[1]"}, "param d is not a dict", "apps", 1, 1),
    ('param("image")\n', {}, "param image is a required param, a value has to be provided",
     "apps", 1, 1),
    ('param("a")\n', {"a": "1", "zzz": "2"}, "param zzz is not declared in params.star",
     "apps", 1, 1),
    ("", {"zzz": "2"}, "param zzz is not declared in params.star (declared params: none)",
     "apps", 1, 1),
    ('x = 1\nparam("port", type=INT, default="80")\n',
     {}, 'param port: default value "80" is not an int (type INT)', "params", 2, 1),
    ('param("a")\n\n  param("a", default="x")\n', {}, "Parse error", "params", 3, 1),
    ('param("a")\nparam("a", default="x")\n', {},
     "param a is declared twice (first at line 1)", "params", 2, 1),
    ('param("a", type="FLOAT")\n', {}, "param a: unknown type 'FLOAT'", "params", 1, 1),
    ('param("a", typo=1)\n', {}, "param a: unknown keyword argument 'typo'", "params", 1, 1),
    ('param("a", required="no")\n', {}, "required must be True or False", "params", 1, 1),
    ('def f():\n    param(3)\nf()\n', {}, "param name must be a non-empty string",
     "params", 2, 5),
]


@pytest.mark.parametrize(("params_star", "supplied", "message", "where", "line", "column"),
                         PARAM_ERRORS)
def test_param_errors(
    tmp_path: Path, params_star: str, supplied: dict[str, str], message: str, where: str,
    line: int, column: int,
) -> None:
    files = {"app.star": USE_ALL}
    if params_star:
        files["params.star"] = params_star
    result = evaluate_files(tmp_path, files, f'app("/a", "src", params={supplied!r})\n')
    file = tmp_path / ("apps.star" if where == "apps" else "src/params.star")
    assert_error(only_error(result), message=message, file=file, line=line, column=column)
    assert result.failed == frozenset({"/a"})


def test_apps_file_error_column_points_at_app_call(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path, {"params.star": 'param("p", type=INT)\n', "app.star": USE_ALL},
        'x = 1\nif x:\n    app("/a", "src", params={"p": "z"})\n',
    )
    assert_error(only_error(result), message="param p is not an int",
                 file=tmp_path / "apps.star", line=3, column=5)
