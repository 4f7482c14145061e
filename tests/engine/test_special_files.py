"""Special files (FIFO, socket) in a build context against the real engine: `ace reconcile`
completes (a hang fails the test, it never blocks the suite), each is named in one warning, the
image builds and serves; `ace watch` goes on applying edits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.appkit import Project, get
from tests.engine.watchkit import WatchProc

pytestmark = pytest.mark.engine

WEB = 'app("/web", "./web")'


@pytest.fixture
def fifo(project: Project) -> Path:
    """The web app with a FIFO in its build context."""
    project.web_app()
    project.apps(WEB)
    path = project.root / "web/pipe"
    os.mkfifo(path)
    return path


@pytest.fixture
def sock(fifo: Path) -> Iterator[Path]:
    """A listening unix socket beside the FIFO."""
    path = fifo.parent / "app.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        s.listen()
        yield path


def _ace(project: Project, fifo: Path, *args: str) -> tuple[int, str, str]:
    """ace in its own process, killed (and the test failed) when it blocks for 120 s."""
    proc = project.spawn(*args)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"ace {' '.join(args)} hung with the FIFO {fifo} in the build context")
    return proc.returncode, out, err


def test_reconcile_with_fifo_completes(project: Project, fifo: Path) -> None:
    """reconcile builds and serves; the FIFO is one warning naming the file; `plan` then has
    nothing to do and warns once more."""
    code, out, err = _ace(project, fifo, "reconcile", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [(s["action"], s["outcome"]) for s in result["steps"]] == [
        ("network", "done"), ("build", "done"), ("start", "done")]
    assert [(w["app"], w["file"]) for w in result["warnings"]] == [("/web", str(fifo))]
    assert result["warnings"][0]["message"].startswith(
        "fifo pipe in the build context is not read (docker sends it as an empty fifo")
    assert get(project.url("/web")) == (200, "v1\n")
    code, out, err = _ace(project, fifo, "plan", "--detailed-exitcode")
    assert code == 0, out + err
    assert err.count("fifo pipe in the build context") == 1


def test_watch_applies_edits_with_fifo_and_socket(project: Project, fifo: Path, sock: Path,
                                                  procs: list[WatchProc]) -> None:
    """ace watch serves the app and applies an edit although the context holds a FIFO and a
    socket; each is told once as a warning, not on every pass."""
    w = WatchProc(project.apps_file, "--resync", "1", "--no-proxy")
    procs.append(w)
    w.wait_served("/web", "v1\n", 90)
    project.write("web/index.html", "v2\n")
    w.wait_served("/web", "v2\n", 60)
    told = {e["file"]: e["warning"] for e in w.named("app_warning")}
    assert len(w.named("app_warning")) == 2 and sorted(told) == [str(sock), str(fifo)], told
    assert told[str(sock)].startswith(
        "socket app.sock in the build context is not read (docker leaves sockets out")
