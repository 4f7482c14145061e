"""Many apps: an apps file of 10,000 app(...) calls evaluates within the default deadline
(its lines are read once, not once per call), apps are evaluated many per sandbox child, and an
app that kills its child costs only itself."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import apps
from apps.appsfile import _evaluate, read_apps_file
from apps.errors import AppError
from apps.locate import entry_column
from apps.model import App
from apps.runtime import BATCH, evaluate_entries
from apps.sandbox import Deadline

from .helpers import write_tree

IMAGE_APP = 'app("/a{i}", "-", spec="image", params={{"image": "busybox:latest", "port": 8080}})'


def _apps_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "apps.star"
    path.write_text("\n".join(IMAGE_APP.format(i=i) for i in range(count)) + "\n")
    return path


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened through builtins.open while the test runs."""
    seen: list[str] = []
    real = builtins.open

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(os.fspath(file) if isinstance(file, str | os.PathLike) else str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    yield seen


def test_apps_file_lines_are_read_once(tmp_path: Path, opens: list[str]) -> None:
    """Locating each of 500 app(...) calls (and each entry's column) reads the apps file once,
    not once per call: evaluating it is linear in its length."""
    path = _apps_file(tmp_path, 500)
    declared = _evaluate(str(path), path.read_text(), Deadline(60))
    assert len(declared.entries) == 500 and not declared.errors
    assert [entry_column(e) for e in declared.entries[:3]] == [1, 1, 1]
    assert opens.count(str(path)) <= 1


def test_ten_thousand_apps_evaluate_within_the_default_deadline(tmp_path: Path) -> None:
    """The apps file of 10,000 app(...) calls evaluates in the sandbox within the 2 s default."""
    declared, _ = read_apps_file(_apps_file(tmp_path, 10_000))
    assert declared.errors == [] and len(declared.entries) == 10_000


def test_apps_are_evaluated_many_per_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """250 apps take one child for the apps file and one per BATCH apps, not one per app."""
    forks: list[int] = []
    real_fork = os.fork

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counting_fork)
    result = apps.evaluate(_apps_file(tmp_path, 250), environ={})
    assert result.errors == () and len(result.apps) == 250
    assert [a.path for a in result.apps[:3]] == ["/a0", "/a1", "/a2"]
    assert len(forks) == 1 + -(-250 // BATCH)


def test_an_app_that_kills_its_child_costs_only_itself(tmp_path: Path) -> None:
    """In one batch: an app that runs out of memory (the child dies) and one that runs past
    its deadline get their own located errors; the apps around them evaluate."""
    for name, star in (("good", 'app = ace.app("ok")\n'),
                       ("hog", 'x = [1] * 2000000000\napp = ace.app("x")\n'),
                       ("slow", "def f():\n    for i in range(100000):\n"
                                "        [j for j in range(100000)]\nf()\n"
                                'app = ace.app("x")\n')):
        write_tree(tmp_path / name, {"app.star": star})
    apps_file = tmp_path / "apps.star"
    apps_file.write_text('app("/g1", "good")\napp("/hog", "hog")\napp("/g2", "good")\n'
                         'app("/slow", "slow")\napp("/g3", "good")\n')
    entries = apps.load_entries(apps_file)
    out = evaluate_entries(entries, deadline=0.5, environ={})
    assert [e.path for e in entries] == ["/g1", "/hog", "/g2", "/slow", "/g3"]
    kinds = [type(o).__name__ if isinstance(o, AppError) else "ok" for o in out]
    assert kinds == ["ok", "AppError", "ok", "AppError", "ok"]
    hog, slow = out[1], out[3]
    assert isinstance(hog, AppError) and "ran out of memory" in hog.message
    assert hog.file == str(tmp_path / "hog/app.star")
    assert isinstance(slow, AppError) and "did not finish within 0.5 s" in slow.message
    assert (slow.file, slow.line) == (str(tmp_path / "slow/app.star"), 3)
    good = [o[0] for o in out if not isinstance(o, AppError)]
    assert all(isinstance(a, App) and a.name == "ok" for a in good)


def test_apps_file_past_its_deadline_says_how_far_it_got(tmp_path: Path) -> None:
    """An apps file stopped by the deadline says how many app(...) calls it had declared and
    the line of the last, and that a longer file needs a longer --eval-deadline. (A loop that
    never ends declares from its first instant: on a loaded machine a long file could spend
    the whole deadline being parsed and declare nothing.)"""
    path = tmp_path / "apps.star"
    path.write_text('N = 1\nfor i in range(10000000):\n'
                    '    app("/a%d" % i, "-", spec="image", params={"image": "busybox:latest"})\n')
    declared, _ = read_apps_file(path, deadline=0.5)
    (err,) = declared.errors
    assert err.message.startswith("evaluation did not finish within 0.5 s")
    count = int(err.message.split("(")[1].split(" ")[0])
    assert count > 0
    assert (f"({count} app(...) calls were declared by then, the last at line 3; a "
            "longer apps file needs a longer --eval-deadline)") in err.message
