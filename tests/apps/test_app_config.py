"""The apps file's `app_config` (OpenRun's per-app settings): ace reads the idle shutdown of an
app and warns about the other keys."""

from __future__ import annotations

from pathlib import Path

import apps
from apps.model import EvalError

from .helpers import write_tree

APP_STAR = 'app = ace.app("x")\n'


def _evaluate(tmp_path: Path, call: str) -> apps.EvalResult:
    write_tree(tmp_path / "web", {"app.star": APP_STAR})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(call + "\n")
    return apps.evaluate(apps_file, environ={})


def test_idle_shutdown_is_read_and_other_keys_are_warnings(tmp_path: Path) -> None:
    """container.idle_shutdown_secs becomes the entry's idle_shutdown (0: never); any other
    app_config key is a warning at the app(...) call, not an error."""
    result = _evaluate(tmp_path, 'app("/web", "web", app_config={'
                       '"container.idle_shutdown_secs": 0, "cors.allow_origin": "*"})')
    assert result.errors == ()
    assert [a.entry.idle_shutdown for a in result.apps] == [0.0]
    assert result.warnings == (EvalError(
        "/web", str(tmp_path / "apps.star"), 1, 1,
        "app_config key 'cors.allow_origin' is ignored by ace "
        "(it reads 'container.idle_shutdown_secs')"),)
    result = _evaluate(tmp_path, 'app("/web", "web", app_config={'
                       '"container.idle_shutdown_secs": "120"})')
    assert [a.entry.idle_shutdown for a in result.apps] == [120.0]
    assert [a.entry.idle_shutdown for a in _evaluate(tmp_path, 'app("/web", "web")').apps] \
        == [None]


def test_a_bad_idle_shutdown_is_an_error_at_the_call(tmp_path: Path) -> None:
    """A negative or non-number value is the app's error, located at its app(...) call."""
    for bad in ("-1", '"soon"', "True", "[]"):
        result = _evaluate(tmp_path, 'x = 1\napp("/web", "web", app_config={'
                           f'"container.idle_shutdown_secs": {bad}}})')
        assert [(e.app, e.line) for e in result.errors] == [("/web", 2)], bad
        assert "container.idle_shutdown_secs must be a number of seconds" in \
            result.errors[0].message
        assert result.failed == frozenset({"/web"})
    result = _evaluate(tmp_path, 'app("/web", "web", app_config=[1])')
    assert "app_config must be a dict" in result.errors[0].message
