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
    ('param("a")\nload("common.star", "x")\n', {},
     "params.star cannot load 'common.star': load() is not available in params.star; declare "
     "the params with param(...) in params.star", "params", 2, 1),
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


# --- params the apps file supplies but params.star does not declare (OpenRun accepts them) ---

CONTAINER_APP = '''
load("container.in", "container")
app = ace.app("x", container=container.config("image:busybox", port=8080))
'''


def _env(result: Any) -> dict[str, str]:
    app = only_app(result)
    assert app.container is not None
    return dict(app.container.env)


def test_undeclared_params_reach_the_container_env_only(tmp_path: Path) -> None:
    """Undeclared params are not app params, but the container gets them: strings as given,
    other values JSON-encoded, next to the declared ones."""
    result = evaluate_files(
        tmp_path,
        {"params.star": 'param("port", type=INT, default=1)\n', "app.star": CONTAINER_APP},
        'app("/a", "src", params={"APP_MODULE": "basic_ws:app", "n": 3, "l": ["x"], '
        '"port": "8"})\n',
    )
    assert only_app(result).params == (("port", 8),)
    env = _env(result)
    assert (env["APP_MODULE"], env["n"], env["l"], env["port"]) == ("basic_ws:app", "3", '["x"]',
                                                                    "8")


def test_undeclared_param_warning_names_param_and_location(tmp_path: Path) -> None:
    """Each undeclared param is one warning at the apps file's app(...) call, listing the
    declared params and what happens to the value."""
    result = evaluate_files(
        tmp_path, {"params.star": 'param("app_name", default="x")\n', "app.star": CONTAINER_APP},
        'x = 1\nif x:\n    app("/a", "src", params={"APP_ARGS": "-addr 0.0.0.0:8080"})\n',
    )
    assert result.errors == ()
    assert [(w.app, w.file, w.line, w.column) for w in result.warnings] == [
        ("/a", str(tmp_path / "apps.star"), 3, 5)]
    assert result.warnings[0].message == (
        "param APP_ARGS is not declared in params.star (declared params: app_name): it is "
        "passed to the container's environment as APP_ARGS, but app.star cannot read it as "
        "param.APP_ARGS"
    )


@pytest.mark.parametrize(("supplied", "declared", "hint"), [
    ("app_fle", ["app_name", "app_file"], '; did you mean "app_file"?'),
    ("PORT", ["port", "app_name"], '; did you mean "port"?'),
    ("zzz", ["app_name", "port"], ""),
])
def test_undeclared_param_suggests_the_nearest_declared_name(
    tmp_path: Path, supplied: str, declared: list[str], hint: str
) -> None:
    """A likely typo (close to a declared name, ignoring case) gets a "did you mean"."""
    params_star = "".join(f'param("{d}", default="")\n' for d in declared)
    result = evaluate_files(
        tmp_path, {"params.star": params_star, "app.star": CONTAINER_APP},
        f'app("/a", "src", params={{"{supplied}": "v"}})\n',
    )
    (warning,) = result.warnings
    assert warning.message.startswith(f"param {supplied} is not declared in params.star")
    assert warning.message.endswith(f"param.{supplied}{hint}")


def test_undeclared_param_of_an_app_without_container_has_no_effect(tmp_path: Path) -> None:
    """Without a container nothing receives the value, and the warning says so."""
    result = evaluate_files(tmp_path, {"app.star": USE_ALL},
                            'app("/a", "src", params={"url": "x"})\n')
    assert only_app(result).params == ()
    assert [(w.message, w.line, w.column) for w in result.warnings] == [(
        "param url is not declared in params.star (declared params: none): it has no effect: "
        "app.star cannot read it and no container receives it", 1, 1)]


def test_undeclared_param_is_not_readable_in_app_star(tmp_path: Path) -> None:
    """param.NAME of an undeclared param fails in app.star, saying the value only reaches the
    container and how to read it."""
    result = evaluate_files(
        tmp_path, {"app.star": 'x = 1\ny = param.APP_MODULE\napp = ace.app("x")\n'},
        'app("/a", "src", params={"APP_MODULE": "m:app"})\n',
    )
    assert_error(
        only_error(result),
        message="param APP_MODULE is not declared in params.star (declared params: none); the "
                "apps file gives it a value, but an undeclared param only reaches the "
                "container's environment: declare it with param(...) to read it as "
                "param.APP_MODULE",
        file=tmp_path / "src/app.star", line=2, column=5,
    )


def test_undeclared_secrets_param_is_not_passed(tmp_path: Path) -> None:
    """As for a declared one, a param named `secrets` never becomes an env variable."""
    result = evaluate_files(tmp_path, {"app.star": CONTAINER_APP},
                            'app("/a", "src", params={"secrets": [["regex:.*"]]})\n')
    assert "secrets" not in _env(result)
    assert "no container receives it" in result.warnings[0].message


def test_undeclared_param_may_reference_a_permitted_secret(tmp_path: Path) -> None:
    """An undeclared value is a string param for secrets: {{secret "K"}} resolves when the
    app's permissions allow it, and is refused at the app(...) call when they do not."""
    allowed = '''
load("container.in", "container")
app = ace.app("x", container=container.config("image:busybox", port=8080),
              permissions=[ace.permission("container.in", "config", secrets=[["TOKEN"]])])
'''
    apps_star = 'app("/a", "src", params={"API_TOKEN": "{{secret \\"TOKEN\\"}}"})\n'
    result = evaluate_files(tmp_path, {"app.star": allowed}, apps_star,
                            environ={"TOKEN": "s3cret"})
    assert _env(result)["API_TOKEN"] == "s3cret"
    refused = evaluate_files(tmp_path / "b", {"app.star": CONTAINER_APP}, apps_star,
                             environ={"TOKEN": "s3cret"})
    err = only_error(refused)
    assert "TOKEN" in err.message and "API_TOKEN" in err.message
    assert (err.file, err.line) == (str(tmp_path / "b/apps.star"), 1)
