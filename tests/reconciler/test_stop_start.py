"""`ace stop` / `ace start` on the in-memory engine: a stopped app stays stopped across
reconciles and watch passes, shows as `stopped by user` in status and is no drift, until
`ace start`; only the named apps are touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.apply.pipeline import Settings
from reconciler.cli import options
from reconciler.cli.app import app as cli_app
from reconciler.watch.loop import Watch, WatchOptions
from state import Store
from tests.apply.kit import ServingFake
from tests.watch.test_watch_crash import APP_STAR, Told


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServingFake]:
    e = ServingFake()
    monkeypatch.setattr(options, "engine", lambda *a, **k: e)
    yield e
    e.close()


@pytest.fixture
def apps_file(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.star").write_text(APP_STAR)
    (tmp_path / "apps.star").write_text('app("/a", "./a")\n')
    return tmp_path / "apps.star"


def ace(apps_file: Path, *args: str, code: int = 0) -> Any:
    res = CliRunner().invoke(cli_app, [*args, "-f", str(apps_file)])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == code, res.output
    return json.loads(res.stdout) if "--json" in args else res


def running(engine: ServingFake) -> list[str]:
    return sorted(c.labels["dev.ace.app"] for c in engine.containers.values()
                  if c.state == "running")


def test_stopped_app_stays_stopped_until_started(apps_file: Path, engine: ServingFake) -> None:
    """stop removes /a's container and nothing else (a newly declared /b is not started by
    it); reconcile and watch passes leave /a stopped; status says `stopped by user`, drift is
    in sync; start brings it back and reconcile then has nothing to do."""
    ace(apps_file, "reconcile")
    apps_file.write_text('app("/a", "./a")\napp("/b", "./b")\n')
    out = ace(apps_file, "stop", "/a", "--json")
    assert [(s["action"], s["app"], s["cause"], s["outcome"]) for s in out["steps"]] == [
        ("stop", "/a", "stopped by user", "done")]
    assert running(engine) == []
    again = ace(apps_file, "reconcile", "--json")
    assert [(s["action"], s["app"]) for s in again["steps"]] == [("start", "/b")]
    assert {"app": "/a", "reason": "stopped by user"} in again["noops"]
    told = Told()
    watch = Watch(Settings(apps_file=apps_file, state_dir=apps_file.parent / ".ace"), engine,
                  told, WatchOptions(watch_files=False))  # type: ignore[arg-type]
    with Store.open(apps_file.parent / ".ace") as store:
        watch._one_pass(store, "resync")
        watch._one_pass(store, "resync")
    assert running(engine) == ["/b"]
    assert {r.app: (r.state, r.last_error) for r in told.table}["/a"] == (
        "stopped", "stopped by user")
    rows = {r["path"]: r for r in ace(apps_file, "status", "--json")["apps"]}
    assert (rows["/a"]["state"], rows["/a"]["detail"]) == ("stopped", "stopped by user")
    assert ace(apps_file, "drift", "--json")["in_sync"] is True
    started = ace(apps_file, "start", "/a", "--json")
    assert [(s["action"], s["app"], s["outcome"]) for s in started["steps"]] == [
        ("start", "/a", "done")]
    assert running(engine) == ["/a", "/b"]
    assert ace(apps_file, "reconcile", "--json")["steps"] == []


def test_stop_refuses_unknown_and_command_apps(apps_file: Path, engine: ServingFake) -> None:
    """An app the apps file does not declare, or one without a service, is an error that
    says why; nothing is recorded."""
    res = ace(apps_file, "stop", "/nope", code=1)
    assert "app /nope is not declared in" in res.stderr and "declared apps: /a" in res.stderr
    (apps_file.parent / "a/app.star").write_text(APP_STAR.replace(
        'port=8080,', 'port=8080, lifetime=container.COMMAND,'))
    res = ace(apps_file, "stop", "/a", code=1)
    assert "app /a runs no service (lifetime is command)" in res.stderr
    with Store.open(apps_file.parent / ".ace") as store:
        assert store.recorded().stopped == frozenset()
