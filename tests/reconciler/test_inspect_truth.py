"""`ace status` and `ace drift` tell the truth about apps that do not evaluate and about failed
applies, end to end through the CLI against the in-memory engine (whose containers answer
HTTP, so health is probed for real)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import options
from reconciler.cli.app import app as cli_app
from tests.apply.kit import ServingFake

APP_STAR = """load("container.in", "container")
app = ace.app("{name}", container=container.config("image:{image}", port=8080,
    command=["httpd", "-f", "-p", "8080"]))
"""
BROKEN_APP_STAR = 'load("container.in", "container")\n\nx = undefined_name\n'


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServingFake]:
    engine = ServingFake()
    monkeypatch.setattr(options, "engine", lambda *a, **k: engine)
    yield engine
    engine.close()


def _write(root: Path, app: str, text: str) -> Path:
    (root / app).mkdir(exist_ok=True)
    path = root / app / "app.star"
    path.write_text(text)
    return path


def _ace(root: Path, *args: str, expect: int) -> str:
    res = CliRunner().invoke(cli_app, [*args, "-f", str(root / "apps.star")])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == expect, f"ace {' '.join(args)} -> {res.exit_code}\n{res.output}"
    return res.stdout


def _json(root: Path, *args: str, expect: int = 0) -> Any:
    return json.loads(_ace(root, *args, "--json", expect=expect))


def _project(root: Path, *apps: str) -> None:
    for name in apps:
        _write(root, name, APP_STAR.format(name=name, image="busybox"))
    (root / "apps.star").write_text("".join(f'app("/{n}", "./{n}")\n' for n in apps))


def test_status_of_an_app_whose_files_fail(tmp_path: Path, fake: ServingFake) -> None:
    """While /web's app.star is broken its last good container serves: status shows it running
    and healthy with its URL, and the error (file:line)."""
    _project(tmp_path, "web")
    _ace(tmp_path, "reconcile", expect=0)
    star = _write(tmp_path, "web", BROKEN_APP_STAR)
    doc = _json(tmp_path, "status", expect=0)
    [row] = doc["apps"]
    assert (row["path"], row["state"], row["health"]) == ("/web", "running", "healthy")
    assert row["url"].startswith("http://127.0.0.1:") and row["container"]
    assert row["error"].startswith(f"{star}:3:")
    assert [e["app"] for e in doc["errors"]] == ["/web"]


def test_drift_claims_no_sync_it_could_not_check(tmp_path: Path, fake: ServingFake) -> None:
    """With /web's app.star broken, drift says not in sync, lists the error and exits 1, as
    text too (never "in sync")."""
    _project(tmp_path, "web")
    _ace(tmp_path, "reconcile", expect=0)
    _write(tmp_path, "web", BROKEN_APP_STAR)
    drift = _json(tmp_path, "drift", expect=1)
    assert drift["in_sync"] is False and drift["items"] == []
    assert [e["line"] for e in drift["errors"]] == [3]
    text = _ace(tmp_path, "drift", expect=1)
    assert "not checked: /web" in text and "in sync" not in text.replace("not checked", "")


def test_status_keeps_a_failed_apply_two_runs_later(tmp_path: Path, fake: ServingFake) -> None:
    """/web's apply failed (its new image cannot be pulled); a later run touched only /api:
    status still says /web's last pull failed and why, while its older version serves."""
    _project(tmp_path, "web", "api")
    _ace(tmp_path, "reconcile", expect=0)
    _write(tmp_path, "web", APP_STAR.format(name="web", image="nosuch/web:2"))
    _ace(tmp_path, "reconcile", expect=1)
    _write(tmp_path, "api",  # a new command: a replace of /api only
           APP_STAR.format(name="api", image="busybox").replace('"-f", ', '"-f", "-v", '))
    out = _json(tmp_path, "reconcile", "--pull", "never", expect=0)
    assert {s["app"] for s in out["steps"]} == {"/api"}
    rows = {r["path"]: r for r in _json(tmp_path, "status", expect=0)["apps"]}
    web = rows["/web"]
    assert (web["state"], web["health"]) == ("running", "healthy")
    assert web["last_apply"]["step"] == "pull:/web"
    assert web["last_apply"]["outcome"] == "failed"
    assert "nosuch/web:2" in web["last_apply"]["message"]
    assert "last pull failed: pull nosuch/web:2" in web["detail"]
    assert rows["/api"]["last_apply"]["outcome"] == "done"
