"""The apps file: entries, source resolution, JSON-encoded values, warnings and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import apps
from apps.errors import AppError
from apps.limits import DEFAULT_DEADLINE
from apps.model import AppEntry, EvalError

from .helpers import assert_error, write_tree

APP_STAR = 'app = ace.app("x")\n'


def test_entries_resolve_sources_and_encode_values(tmp_path: Path) -> None:
    write_tree(tmp_path / "web", {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        'app("/web", "web", params={"port": 8080, "flag": True, "l": [1, "a"], "s": "x"},\n'
        '    container_opts={"cpus": 2, "memory": "512m"}, container_args={"V": 1},\n'
        '    container_vols=["data:/data"], dev=True)\n'
        'app("/img", "-", spec="image", params={"image": "busybox", "port": 8080})\n'
    )
    assert apps.load_entries(apps_file) == (
        AppEntry(
            path="/web",
            source=str(tmp_path / "web"),
            params=(("port", "8080"), ("flag", "true"), ("l", '[1, "a"]'), ("s", "x")),
            container_opts=(("cpus", "2"), ("memory", "512m")),
            container_args=(("V", "1"),),
            container_vols=("data:/data",),
            dev=True,
            file=str(apps_file),
            line=1,
        ),
        AppEntry(
            path="/img",
            source="-",
            spec="image",
            params=(("image", "busybox"), ("port", "8080")),
            file=str(apps_file),
            line=4,
        ),
    )


def test_entries_from_loops_and_functions(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_tree(tmp_path / name, {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        "def mk(name):\n"
        '    app("/" + name, name, params={"k": name})\n'
        'for n in ["a", "b"]:\n'
        "    mk(n)\n"
    )
    entries = apps.load_entries(apps_file)
    assert [(e.path, e.source, e.line) for e in entries] == [
        ("/a", str(tmp_path / "a"), 2),
        ("/b", str(tmp_path / "b"), 2),
    ]


def test_ignored_openrun_keywords_are_warnings(tmp_path: Path) -> None:
    write_tree(tmp_path / "web", {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        'app("/web", "web", auth="system", git_branch="main", approve=True)\n'
    )
    result = apps.evaluate(apps_file, environ={})
    assert result.errors == ()
    assert [a.path for a in result.apps] == ["/web"]
    assert result.warnings == tuple(
        EvalError("/web", str(apps_file), 1, 1, f"app keyword {k!r} is ignored by ace")
        for k in ("auth", "git_branch", "approve")
    )


APP_FILE_ERRORS = [
    # (apps file text, message substring, app, line, column)
    ('app("web", "web")\n', "app path 'web' must start with /", "", 1, 1),
    ('app("/a/../b", "web")\n', "must not contain . or .. segments", "", 1, 1),
    ('app("/a//b", "web")\n', "has an empty segment", "", 1, 1),
    ('app("/a/", "web")\n', "has an empty segment", "", 1, 1),
    ('x = 1\n  app("/web", "missing")\n', "Parse error", "", 2, 1),
    ('app("/a", "a")\napp("/web", "web",\n    params={"a": 1}\n', "'(' was never closed", "",
     2, 4),
    ('app(3, "web")\n', "path must be a string", "", 1, 1),
    ('x = 1\napp("/web", "missing")\n', "source directory", "/web", 2, 1),
    ('app("/web", "web", spec="nope")\n', "unknown spec 'nope'; built-in specs: container, "
     "image, image-cmd, proxy", "/web", 1, 1),
    ('app("/web", "web", parms={})\n', "unknown keyword argument 'parms'", "/web", 1, 1),
    ('app("/web", "web", params=[1])\n', "params must be a dict", "/web", 1, 1),
    ('app("/web", "web", container_vols="x")\n', "container_vols must be a list", "/web", 1, 1),
    ('app("/web", "https://github.com/x/y")\n', "git sources are not supported", "/web", 1, 1),
    ('def f():\n    return undefined_name\nf()\n', "Variable `undefined_name` not found",
     "", 2, 12),
    ('x = [1]\nfor i in range(100):\n    x = x + x\n', "ran out of memory", "", 1, 1),
]


@pytest.mark.parametrize(("text", "message", "app", "line", "column"), APP_FILE_ERRORS)
def test_apps_file_errors(
    tmp_path: Path, text: str, message: str, app: str, line: int, column: int
) -> None:
    write_tree(tmp_path / "web", {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(text)
    # running out of memory takes ~1 s of copying: on a loaded machine the default deadline
    # would end it first
    deadline = 60.0 if "memory" in message else DEFAULT_DEADLINE
    result = apps.evaluate(apps_file, environ={}, deadline=deadline)
    assert len(result.errors) == 1, result.errors
    assert_error(result.errors[0], message=message, file=apps_file, line=line, column=column,
                 app=app)
    assert result.apps_file_ok == (app != "")
    assert result.failed == (frozenset({app}) if app else frozenset())
    with pytest.raises(AppError) as info:
        apps.load_entries(apps_file, deadline=deadline)
    assert message in info.value.message
    assert (info.value.file, info.value.line) == (str(apps_file), line)


def test_duplicate_path_fails_that_path_only(tmp_path: Path) -> None:
    write_tree(tmp_path / "web", {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        'app("/web", "web")\napp("/other", "web")\napp("/web", "web", spec="image")\n'
    )
    result = apps.evaluate(apps_file, environ={})
    assert_error(
        result.errors[0], message="app path /web is declared twice (first at line 1)",
        file=apps_file, line=3, column=1, app="/web",
    )
    assert len(result.errors) == 1
    assert [a.path for a in result.apps] == ["/other"]
    assert result.failed == frozenset({"/web"})
    assert result.apps_file_ok


def test_missing_apps_file(tmp_path: Path) -> None:
    result = apps.evaluate(tmp_path / "nope.star", environ={})
    assert not result.apps_file_ok
    assert result.apps == ()
    assert "cannot read the apps file" in result.errors[0].message
    assert result.errors[0].file == str(tmp_path / "nope.star")


def test_apps_file_config_builtin_returns_default(tmp_path: Path) -> None:
    write_tree(tmp_path / "web", {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text('app("/web", config("dir", "web"))\n')
    assert [e.source for e in apps.load_entries(apps_file)] == [str(tmp_path / "web")]


@pytest.mark.parametrize(("load", "outside"), [
    ('load("../shared/apps.star", "x")', True), ('load("/etc/apps.star", "x")', True),
    ('load("more.star", "x")', False)])
def test_load_in_apps_file_is_a_clear_error(tmp_path: Path, load: str, outside: bool) -> None:
    """load() in the apps file says it is not available (and when the path is outside the apps
    file's directory, that too), located at the load; never Starlark's internal message."""
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(f'x = 1\n{load}\napp("/a", "-", spec="image", '
                         'params={"image": "busybox", "port": 80})\n')
    result = apps.evaluate(apps_file, environ={})
    assert len(result.errors) == 1 and not result.apps_file_ok
    err = result.errors[0]
    assert (err.app, err.file, err.line) == ("", str(apps_file), 2)
    assert "the apps file cannot load '" in err.message
    assert ("load() is not available in the apps file; declare every app(...) in the apps "
            "file itself") in err.message
    assert (f"is outside {tmp_path}, the directory of the apps file" in err.message) == outside
    assert "set_loader" not in err.message
