"""Old images collected by `ace reconcile` on the in-memory engine: successive builds leave the
last N versions (`--keep-images`), the store forgets the removed ones, and a no-op pass still
makes one engine call (no image listing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import options
from reconciler.cli.app import app as cli_app
from state import Store
from tests.apply.kit import ServingFake
from tests.engine.appkit import WEB_APP_STAR, WEB_CONTAINERFILE, WEB_PARAMS


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServingFake]:
    e = ServingFake()
    monkeypatch.setattr(options, "engine", lambda *a, **k: e)
    yield e
    e.close()


@pytest.fixture
def apps_file(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    web.mkdir()
    for name, text in (("Containerfile", WEB_CONTAINERFILE), ("app.star", WEB_APP_STAR),
                       ("params.star", WEB_PARAMS), ("index.html", "v0\n")):
        (web / name).write_text(text)
    (tmp_path / "apps.star").write_text('app("/web", "./web")\n')
    return tmp_path / "apps.star"


def reconcile(apps_file: Path, *args: str) -> Any:
    res = CliRunner().invoke(cli_app, ["reconcile", "--json", *args, "-f", str(apps_file)])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def web_images(engine: ServingFake) -> list[str]:
    return sorted(t for i in engine.images.values() for t in i.tags if "/web:" in t)


def test_successive_builds_keep_the_last_two_versions(apps_file: Path,
                                                      engine: ServingFake) -> None:
    """Four builds leave two images; each removal is a step done after the replace; the store
    forgets removed images; a no-op pass lists no images."""
    built: list[str] = []
    for n in range(4):
        (apps_file.parent / "web/index.html").write_text(f"v{n}\n")
        out = reconcile(apps_file)
        built.append(next(s["target"] for s in out["steps"] if s["action"] == "build"))
        gone = [(s["target"], s["cause"], s["outcome"]) for s in out["steps"]
                if s["action"] == "remove_image"]
        assert gone == ([(built[n - 2], "older than the last 2 versions", "done")]
                        if n >= 2 else [])
    assert web_images(engine) == sorted(built[2:])
    with Store.open(apps_file.parent / ".ace") as store:
        assert sorted(r.tag for r in store.images_for("/web")) == sorted(built[2:])
    engine.calls.clear()
    assert reconcile(apps_file)["steps"] == []
    assert dict(engine.calls) == {"list_containers": 1}


def test_keep_images_option(apps_file: Path, engine: ServingFake) -> None:
    """--keep-images 1 keeps only the version that runs; 0 keeps every image."""
    for n in range(3):
        (apps_file.parent / "web/index.html").write_text(f"v{n}\n")
        reconcile(apps_file, "--keep-images", "0")
    assert len(web_images(engine)) == 3
    (apps_file.parent / "web/index.html").write_text("last\n")
    out = reconcile(apps_file, "--keep-images", "1")
    assert len([s for s in out["steps"] if s["action"] == "remove_image"]) == 3
    (running,) = [c.image for c in engine.containers.values() if c.state == "running"]
    assert web_images(engine) == [running]
