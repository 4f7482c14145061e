"""Dev mode on demand: dev_apps marks apps dev in every evaluation entry point, the caches key on
it, and `ace config` shows the mode, the resolved settings and the note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import apps
import apps.runtime
from apps.cache import CacheUpdate, evaluate_cached
from apps.incremental import EvalMemory, evaluate_incremental
from reconciler.cli.app import app as cli_app
from tests.apps.containerkit import make_app
from tests.apps.helpers import evaluate_files, only_app
from tests.apps.test_dev_settings import FLASK_APP, FLASK_DEV, FLASK_FILES, FLASK_PARAMS

# --- dev_apps: forcing dev mode, and the caches ---------------------------------------------


def test_dev_apps_marks_apps_dev(tmp_path: Path) -> None:
    """dev_apps runs the named app in dev mode as if the apps file said dev=True."""
    normal = evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src")\n')
    assert only_app(normal).container.dev is None  # type: ignore[union-attr]
    forced = apps.evaluate(tmp_path / "apps.star", environ={}, dev_apps=frozenset({"/flask"}))
    app = only_app(forced)
    assert app.entry.dev is True
    assert app.container is not None and app.container.dev == FLASK_DEV
    entries = apps.load_entries(tmp_path / "apps.star", dev_apps={"/flask"})
    assert [e.dev for e in entries] == [True]


def test_unknown_dev_app_is_a_warning(tmp_path: Path) -> None:
    """A dev_apps path the apps file does not declare is a warning naming the declared apps."""
    evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src")\n')
    result = apps.evaluate(tmp_path / "apps.star", environ={}, dev_apps={"/nope"})
    assert result.errors == ()
    (warning,) = result.warnings
    assert warning.app == "/nope" and warning.file == str(tmp_path / "apps.star")
    assert warning.message == (
        "app /nope was asked to run in dev mode, but the apps file declares no such app "
        "(apps: /flask)")


def _apply(cache: dict[str, tuple[str, bytes]], upd: CacheUpdate) -> dict[str, tuple[str, bytes]]:
    out = {**cache, **upd.save}
    for slot in upd.drop:
        out.pop(slot, None)
    return out


def test_cache_is_keyed_on_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached normal-mode app is not served to a dev run (nor back); a same-mode run hits."""
    evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src")\n')
    f = tmp_path / "apps.star"
    normal, upd = evaluate_cached(f, {}, environ={})
    cache = _apply({}, upd)
    dev, upd = evaluate_cached(f, cache, environ={}, dev_apps={"/flask"})
    assert set(upd.save) == {"/flask"}
    assert dev.apps[0].container is not None and dev.apps[0].container.dev == FLASK_DEV
    cache = _apply(cache, upd)
    again, upd = evaluate_cached(f, cache, environ={})
    assert set(upd.save) == {"/flask"} and again.apps == normal.apps
    cache = _apply(cache, evaluate_cached(f, cache, environ={}, dev_apps={"/flask"})[1])

    def fail(*a: object, **k: object) -> None:
        raise AssertionError("evaluated although nothing changed")

    monkeypatch.setattr(apps.runtime, "evaluate_entry", fail)
    hit, upd = evaluate_cached(f, cache, environ={}, dev_apps={"/flask"})
    assert upd.save == {} and hit.apps == dev.apps


def test_incremental_memory_keyed_on_dev(tmp_path: Path) -> None:
    """Switching dev_apps re-evaluates the app; an unchanged pass re-evaluates nothing."""
    evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src")\n')
    memory = EvalMemory(str(tmp_path / "apps.star"), dev_apps=frozenset({"/flask"}))
    first = evaluate_incremental(memory)
    assert first.reevaluated == ("/flask",)
    assert first.result.apps[0].container.dev == FLASK_DEV  # type: ignore[union-attr]
    assert evaluate_incremental(first.memory).reevaluated == ()
    normal = evaluate_incremental(first.memory, dev_apps=frozenset())
    assert normal.reevaluated == ("/flask",)
    assert normal.result.apps[0].container.dev is None  # type: ignore[union-attr]
    ghost = evaluate_incremental(normal.memory, dev_apps={"/ghost"})
    assert [w.app for w in ghost.result.warnings] == ["/ghost"]


# --- ace config ---------------------------------------------------------------------------


def test_ace_config_shows_dev_mode(tmp_path: Path) -> None:
    """`ace config --json` carries dev and the settings; the text line shows mode and note."""
    evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src", dev=True)\n')
    make_app(tmp_path, {"app.star": FLASK_APP.replace('"target": "builder",', ""),
                        "params.star": FLASK_PARAMS,
                        "Containerfile": "FROM a\nWORKDIR /app\nFROM b\nEXPOSE 5000\n"}, "plain")
    (tmp_path / "apps.star").write_text(
        'app("/flask", "src", dev=True)\napp("/plain", "plain", dev=True)\n')
    runner = CliRunner()
    res = runner.invoke(cli_app, ["config", "--json", "-f", str(tmp_path / "apps.star")])
    assert res.exit_code == 0, res.output
    docs = {a["path"]: a for a in json.loads(res.stdout)["apps"]}
    assert docs["/flask"]["dev"] is True
    assert docs["/flask"]["container"]["dev"]["target"] == "builder"
    assert docs["/plain"]["container"]["dev"] is None
    note = ("dev: no stage named 'dev' and the penultimate stage is not named; running the "
            "normal way")
    assert docs["/plain"]["container"]["dev_note"] == note
    res = runner.invoke(cli_app, ["config", "-f", str(tmp_path / "apps.star")])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert any(line.startswith("/flask") and "dev mode (target builder, dir /app, reload none)"
               in line for line in lines), lines
    assert any(line.startswith("/plain") and line.endswith(note) for line in lines), lines
