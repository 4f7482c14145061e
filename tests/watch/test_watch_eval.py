"""Incremental evaluation: only apps whose files (or entry) changed are re-evaluated; a broken
app keeps its last good App; a broken apps file keeps the last good set and prunes nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import apps
from apps.incremental import EvalMemory, evaluate_incremental
from apps.model import App
from tests.engine.appkit import WEB_APP_STAR, WEB_CONTAINERFILE, WEB_PARAMS


class Counting:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, entry: Any, **kw: Any) -> App:
        self.calls.append(entry.path)
        return apps.evaluate_app(entry, **kw)


def web(root: Path, name: str) -> None:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "Containerfile").write_text(WEB_CONTAINERFILE)
    (d / "index.html").write_text("v1\n")
    (d / "app.star").write_text(WEB_APP_STAR)
    (d / "params.star").write_text(WEB_PARAMS)


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()  # make the change visible even within one mtime tick
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    web(tmp_path, "a")
    web(tmp_path, "b")
    (tmp_path / "apps.star").write_text('app("/a", "./a")\napp("/b", "./b")\n')
    return tmp_path


def test_only_changed_app_reevaluated(project: Path) -> None:
    """First pass evaluates all; then nothing; an edit of b's params.star re-evaluates b only;
    a build-context file (index.html) is not an evaluation input."""
    ev = Counting()
    first = evaluate_incremental(EvalMemory(str(project / "apps.star")), eval_app=ev)
    assert sorted(first.reevaluated) == ["/a", "/b"] and first.apps_file_read
    assert [a.path for a in first.result.apps] == ["/a", "/b"]
    second = evaluate_incremental(first.memory, eval_app=ev)
    assert second.reevaluated == () and not second.apps_file_read
    assert second.result == first.result
    touch(project / "b/params.star", WEB_PARAMS + 'param("extra", default="x")\n')
    (project / "a/index.html").write_text("v2\n")
    third = evaluate_incremental(second.memory, eval_app=ev)
    assert third.reevaluated == ("/b",)
    assert str(project / "b/params.star") in third.memory.watched_files()


def test_broken_app_keeps_last_good(project: Path) -> None:
    """A syntax error keeps the last good App in the result (not held), with a located error;
    the fix re-evaluates."""
    mem = evaluate_incremental(EvalMemory(str(project / "apps.star"))).memory
    good = (project / "a/app.star").read_text()
    touch(project / "a/app.star", good + "\nx = = 1\n")
    broken = evaluate_incremental(mem)
    assert broken.reevaluated == ("/a",)
    assert [a.path for a in broken.result.apps] == ["/a", "/b"]
    assert broken.result.failed == frozenset()
    (err,) = broken.result.errors
    assert err.app == "/a" and err.file == str(project / "a/app.star")
    assert err.line == len(good.splitlines()) + 2
    again = evaluate_incremental(broken.memory)
    assert again.reevaluated == () and again.result.errors == (err,)
    touch(project / "a/app.star", good)
    fixed = evaluate_incremental(again.memory)
    assert fixed.reevaluated == ("/a",) and fixed.result.errors == ()


def test_new_app_broken_from_the_start_is_failed(project: Path) -> None:
    """Without a last good App, a broken app is reported as failed (held by the planner)."""
    web(project, "c")
    (project / "c/app.star").write_text("oops(\n")
    (project / "apps.star").write_text('app("/a", "./a")\napp("/c", "./c")\n')
    res = evaluate_incremental(EvalMemory(str(project / "apps.star"))).result
    assert res.failed == frozenset({"/c"}) and [a.path for a in res.apps] == ["/a"]


def test_apps_file_edits(project: Path) -> None:
    """Removing an app drops it; a broken apps file keeps every last good app and no pruning;
    fixing it (adding an app) evaluates only the new one."""
    ev = Counting()
    mem = evaluate_incremental(EvalMemory(str(project / "apps.star")), eval_app=ev).memory
    touch(project / "apps.star", 'app("/a", "./a")\n')
    res = evaluate_incremental(mem, eval_app=ev)
    assert [a.path for a in res.result.apps] == ["/a"] and res.reevaluated == ()
    touch(project / "apps.star", 'app("/a", "./a"\n')
    broken = evaluate_incremental(res.memory, eval_app=ev)
    assert not broken.result.apps_file_ok and [a.path for a in broken.result.apps] == ["/a"]
    assert broken.result.errors[0].app == "" and broken.result.errors[0].line >= 1
    touch(project / "apps.star", '\napp("/a", "./a")\napp("/b", "./b")\n')  # /a moved a line
    fixed = evaluate_incremental(broken.memory, eval_app=ev)
    assert fixed.result.apps_file_ok and fixed.reevaluated == ("/b",)
    assert ev.calls == ["/a", "/b", "/b"]
