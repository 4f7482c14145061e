"""The evaluation cache: a hit skips the sandbox; any input change, an error or a new file in
the app's directories makes the app evaluate again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import apps.runtime
from apps.cache import CacheUpdate, evaluate_cached

APP_STAR = 'load("container.in", "container")\napp = ace.app("W", container=container.config(' \
           '"image:busybox", port=8080, health=param.health))\n'
PARAMS = 'param("health", default="/")\n'


def _project(root: Path) -> Path:
    (root / "w").mkdir(parents=True)
    (root / "w/app.star").write_text(APP_STAR)
    (root / "w/params.star").write_text(PARAMS)
    (root / "apps.star").write_text('app("/w", "./w")\n')
    return root / "apps.star"


def _apply(cache: dict[str, tuple[str, bytes]], upd: CacheUpdate) -> dict[str, tuple[str, bytes]]:
    out = {**cache, **upd.save}
    for slot in upd.drop:
        out.pop(slot, None)
    return out


def _no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*a: object, **k: object) -> None:
        raise AssertionError("evaluated although nothing changed")

    monkeypatch.setattr(apps.runtime, "evaluate_entry", fail)
    monkeypatch.setattr("apps.appsfile.read_apps_file", fail)


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_hit_skips_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second evaluation of unchanged files forks nothing and writes nothing."""
    f = _project(tmp_path)
    first, upd = evaluate_cached(f, {})
    assert [a.path for a in first.apps] == ["/w"] and set(upd.save) == {"", "/w"}
    cache = _apply({}, upd)
    _no_sandbox(monkeypatch)
    again, upd2 = evaluate_cached(f, cache)
    assert again.apps == first.apps
    assert upd2.save == {} and upd2.drop == []


def test_changes_invalidate(tmp_path: Path) -> None:
    """Editing params.star, the apps file entry, or adding a file to the source re-evaluates."""
    f = _project(tmp_path)
    cache = _apply({}, evaluate_cached(f, {})[1])
    (tmp_path / "w/params.star").write_text('param("health", default="/ping")\n')
    _touch_later(tmp_path / "w/params.star")
    r, upd = evaluate_cached(f, cache)
    assert r.apps[0].container is not None and r.apps[0].container.health == "/ping"
    assert set(upd.save) == {"/w"}
    cache = _apply(cache, upd)
    (tmp_path / "w/Containerfile").write_text("FROM busybox\n")
    r, upd = evaluate_cached(f, cache)
    assert set(upd.save) == {"/w"}
    cache = _apply(cache, upd)
    f.write_text('app("/w", "./w", params={"health": "/h"})\n')
    _touch_later(f)
    r, upd = evaluate_cached(f, cache)
    assert r.apps[0].container is not None and r.apps[0].container.health == "/h"
    assert set(upd.save) == {"", "/w"}


def test_errors_are_not_cached_and_removed_apps_dropped(tmp_path: Path) -> None:
    """A broken app evaluates every time (its slot is dropped); an app removed from the apps
    file loses its slot."""
    f = _project(tmp_path)
    cache = _apply({}, evaluate_cached(f, {})[1])
    (tmp_path / "w/app.star").write_text("app = ace.app(\n")
    _touch_later(tmp_path / "w/app.star")
    r, upd = evaluate_cached(f, cache)
    assert r.failed == frozenset({"/w"}) and upd.drop == ["/w"] and "/w" not in upd.save
    cache = _apply(cache, upd)
    r, upd = evaluate_cached(f, cache)
    assert r.failed == frozenset({"/w"})
    f.write_text("")
    _touch_later(f)
    r, upd = evaluate_cached(f, {**cache, "/w": ("stale", b"x")})
    assert r.apps == () and "/w" in upd.drop


def test_moving_an_app_in_the_apps_file_reuses_it(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A comment added above app(...) re-reads the apps file but re-evaluates no app; the
    app's entry carries its new line."""
    f = _project(tmp_path)
    cache = _apply({}, evaluate_cached(f, {})[1])
    f.write_text('# my apps\n\napp("/w", "./w")\n')
    _touch_later(f)
    calls: list[str] = []
    real = apps.runtime.evaluate_entry

    def counting(entry: object, **kw: object) -> object:
        calls.append(str(entry))
        return real(entry, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(apps.runtime, "evaluate_entry", counting)
    r, upd = evaluate_cached(f, cache)
    assert calls == [] and set(upd.save) == {""}
    assert r.apps[0].entry.line == 3
