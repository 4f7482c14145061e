"""How apps' warnings (here: a param params.star does not declare) reach people: `ace config`,
`ace plan`, `ace reconcile` (text and JSON) and `ace watch` (once, not on every pass), always
located at the app's `app(...)` call as it stands now. Engine work goes to the in-memory
engine."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import apps
from apps.model import EvalError
from reconciler.apply.pipeline import Settings
from reconciler.cli import options
from reconciler.cli.app import app as cli_app
from reconciler.watch.loop import Watch, WatchOptions
from state import Store
from tests.fakes import FakeEngine

TYPO = 'app("/p", "-", spec="proxy", params={"url": "https://example.com", "preserve_hots": True})'
MESSAGE = (
    "param preserve_hots is not declared in params.star (declared params: url, app_name, "
    "preserve_host, strip_app): it has no effect: app.star cannot read it and no container "
    'receives it; did you mean "preserve_host"?'
)


def _project(tmp_path: Path, *lines: str) -> Path:
    apps_file = tmp_path / "apps.star"
    apps_file.write_text("\n".join(lines) + "\n")
    return apps_file


def _ace(apps_file: Path, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli_app, [*args, "-f", str(apps_file)])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(autouse=True)
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine()
    monkeypatch.setattr(options, "engine", lambda *a, **k: engine)
    return engine


@pytest.mark.parametrize("command", ["config", "plan", "reconcile"])
def test_commands_print_the_warning_with_its_location(tmp_path: Path, command: str) -> None:
    """config, plan and reconcile show the warning on stderr with file:line:column, and still
    succeed; reconcile says it even when there is nothing to do."""
    apps_file = _project(tmp_path, "if True:", "    " + TYPO)
    code, _, err = _ace(apps_file, command)
    assert code == 0
    assert f"warning /p {apps_file}:2:5" in err
    assert MESSAGE in " ".join(err.split())


@pytest.mark.parametrize("command", ["config", "plan", "reconcile"])
def test_commands_put_the_warning_in_json(tmp_path: Path, command: str) -> None:
    """--json carries the warnings as located objects."""
    apps_file = _project(tmp_path, TYPO)
    code, out, _ = _ace(apps_file, command, "--json")
    assert code == 0
    assert json.loads(out)["warnings"] == [
        {"app": "/p", "file": str(apps_file), "line": 1, "column": 1, "message": MESSAGE}]


def test_cached_app_warning_follows_its_moved_app_call(tmp_path: Path) -> None:
    """A cached app (no re-evaluation) still warns, at the line its app(...) call has now."""
    apps_file = _project(tmp_path, TYPO)
    first = json.loads(_ace(apps_file, "plan", "--json")[1])["warnings"]
    _project(tmp_path, "", "", "x = 1", TYPO)
    st = apps_file.stat()
    os.utime(apps_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    moved = json.loads(_ace(apps_file, "plan", "--json")[1])["warnings"]
    assert [w["line"] for w in first + moved] == [1, 4]


class Recorder:
    """A watch reporter that keeps the warnings and errors it is told."""

    def __init__(self) -> None:
        self.warnings: list[EvalError] = []
        self.errors: list[EvalError] = []

    def app_warnings(self, warnings: Sequence[EvalError]) -> None:
        self.warnings.extend(warnings)

    def app_errors(self, errors: Sequence[EvalError]) -> None:
        self.errors.extend(errors)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None  # the rest of the Reporter protocol: nothing to see


def test_watch_tells_each_warning_once(tmp_path: Path, fake_engine: FakeEngine) -> None:
    """Passes with the same warning report it once; a new warning is reported when it appears,
    a warning that came back after being fixed is reported again, and so is one whose app(...)
    call moved (at its new line)."""
    apps_file = _project(tmp_path, TYPO)
    settings = Settings(apps_file=apps_file, state_dir=tmp_path / ".ace")
    recorder = Recorder()
    watcher = Watch(settings, fake_engine, recorder,  # type: ignore[arg-type]
                      WatchOptions(watch_files=False))
    with Store.open(settings.state_dir) as store:
        for _ in range(3):
            watcher._one_pass(store, "resync")
        assert [(w.app, w.line, w.message) for w in recorder.warnings] == [("/p", 1, MESSAGE)]
        _project(tmp_path, TYPO, 'app("/q", "-", spec="proxy", params={"url": "x", "zz": 1})')
        watcher._one_pass(store, "files")
        watcher._one_pass(store, "resync")
        assert [(w.app, w.line) for w in recorder.warnings] == [("/p", 1), ("/q", 2)]
        _project(tmp_path, 'app("/p", "-", spec="proxy", params={"url": "https://example.com"})')
        watcher._one_pass(store, "files")
        _project(tmp_path, TYPO)
        watcher._one_pass(store, "files")
        _project(tmp_path, "", TYPO)  # the app's entry is unchanged: no re-evaluation
        watcher._one_pass(store, "files")
    assert [(w.app, w.line) for w in recorder.warnings] == [
        ("/p", 1), ("/q", 2), ("/p", 1), ("/p", 2)]
    assert recorder.errors == []


def test_evaluate_lists_apps_file_and_app_warnings(tmp_path: Path) -> None:
    """apps.evaluate gives the apps file's warnings first, then each app's, in file order."""
    apps_file = _project(tmp_path, TYPO.replace(")", ", auth=\"none\")", 1)[:-1] + ")")
    result = apps.evaluate(apps_file, environ={})
    assert [w.message.split(" (")[0] for w in result.warnings] == [
        "app keyword 'auth' is ignored by ace",
        "param preserve_hots is not declared in params.star"]
