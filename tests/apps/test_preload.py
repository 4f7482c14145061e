"""apps.preload: modules the parent imports while a sandbox child evaluates."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import apps
from apps.preload import preload
from apps.sandbox import Location, run_isolated

MODULE = """import os, time
PID = os.getpid()
AT = time.monotonic()
"""


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path for throwaway modules, which are forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            if name.startswith("preload_probe"):
                del sys.modules[name]


def _child_run(seconds: float) -> tuple[float, float]:
    """Run a child that works for `seconds`; (when it started, when it ended)."""
    def child(_: object) -> tuple[float, float]:
        start = time.monotonic()
        time.sleep(seconds)
        return start, time.monotonic()

    return run_isolated(child, app="", timeout=10, fallback=Location("", 0, 0))


def test_queued_modules_load_in_the_parent_while_the_child_runs(modules: Path) -> None:
    (modules / "preload_probe_a.py").write_text(MODULE)
    (modules / "preload_probe_b.py").write_text(MODULE)
    with preload("preload_probe_a", "preload_probe_b"):
        started, ended = _child_run(0.3)
    a, b = sys.modules["preload_probe_a"], sys.modules["preload_probe_b"]
    assert a.PID == b.PID == os.getpid()  # the parent, not the child
    assert started - 0.1 < a.AT <= b.AT < ended  # during the child's run, in order


def test_nothing_loads_without_a_child_or_after_the_block(modules: Path) -> None:
    (modules / "preload_probe_c.py").write_text(MODULE)
    with preload("preload_probe_c"):
        pass  # everything cached: no child
    _child_run(0.05)
    assert "preload_probe_c" not in sys.modules


def test_first_goes_ahead_and_the_rest_waits_for_the_next_child(modules: Path) -> None:
    """Imports stop once the child answered: what is left loads during the next child."""
    (modules / "preload_probe_slow.py").write_text("import time\ntime.sleep(0.3)\n" + MODULE)
    (modules / "preload_probe_d.py").write_text(MODULE)
    with preload("preload_probe_d"), preload("preload_probe_slow", first=True):
        _child_run(0.01)  # answers while the slow one loads
        assert "preload_probe_slow" in sys.modules
        assert "preload_probe_d" not in sys.modules
        started, ended = _child_run(0.3)
    assert started - 0.1 < sys.modules["preload_probe_d"].AT < ended


def test_a_module_that_fails_to_load_is_skipped(modules: Path) -> None:
    (modules / "preload_probe_bad.py").write_text("raise RuntimeError('broken')\n")
    (modules / "preload_probe_e.py").write_text(MODULE)
    with preload("preload_probe_bad", "preload_probe_missing", "preload_probe_e"):
        assert _child_run(0.2)
    assert "preload_probe_bad" not in sys.modules
    assert os.getpid() == sys.modules["preload_probe_e"].PID
    with pytest.raises(RuntimeError, match="broken"):  # its real import still reports it
        import preload_probe_bad  # type: ignore[import-not-found]  # noqa: F401


def test_a_changed_apps_file_loads_the_app_front_end_meanwhile(tmp_path: Path) -> None:
    """evaluate_cached has apps.runtime load while the apps file's child runs (before that
    child's answer is read), so the apps' evaluation finds it loaded."""
    import subprocess

    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "app.star").write_text(
        'load("container.in", "container")\n'
        'app = ace.app("svc", container=container.config("image:busybox", port=80))\n')
    (tmp_path / "apps.star").write_text('app("/svc", "./svc")\n')
    probe = f"""
import sys, time
from apps.preload import preload
import apps.sandbox as sb
real = sb.run_isolated
seen = []
def spy(fn, **kw):
    before = "apps.runtime" in sys.modules
    try:
        return real(fn, **kw)
    finally:
        seen.append((before, "apps.runtime" in sys.modules))
sb.run_isolated = spy
import apps.appsfile, apps.cache
apps.appsfile.run_isolated = spy
assert "apps.runtime" not in sys.modules
result, _ = apps.cache.evaluate_cached({str(tmp_path / "apps.star")!r}, {{}})
print(seen, [a.path for a in result.apps], result.errors)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(apps.__file__)))
    expect = "[(False, True), (True, True)] ['/svc'] ()"  # loaded before the first answer
    assert out.stdout.strip() == expect, out.stdout + out.stderr


def test_the_pass_queues_modules_that_exist() -> None:
    """A misspelt name would be skipped in silence: each module the pass queues imports."""
    import importlib

    from reconciler.apply import pipeline

    for name in pipeline._APPLY_MODULES:
        assert importlib.import_module(name).__name__ == name


def test_an_interrupt_while_preloading_still_reaps_the_child(
        modules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during the parent's early imports ends the call as it would during the wait:
    the child is killed and reaped, never left behind."""
    (modules / "preload_probe_int.py").write_text("raise KeyboardInterrupt\n")
    forked: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    with preload("preload_probe_int"), pytest.raises(KeyboardInterrupt):
        _child_run(30)
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):  # reaped: not running, not even a zombie
        os.waitpid(forked[0], os.WNOHANG)
