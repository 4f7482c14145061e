"""Which paths wake `ace watch`, and the watchfiles thread: new files seen, bursts coalesced,
editor temp files, VCS dirs, .dockerignore'd files and the state dir ignored."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from reconciler.watch.files import FileWatcher, WatchSet, watch_roots


def make(tmp_path: Path) -> WatchSet:
    ctx = tmp_path / "web"
    ctx.mkdir()
    (ctx / ".dockerignore").write_text("node_modules\n*.log\n!keep.log\n")
    (ctx / "app.star").write_text("")
    (tmp_path / "apps.star").write_text("")
    return WatchSet.of([str(tmp_path / "apps.star"), str(ctx / "app.star")], [str(ctx)],
                       str(tmp_path / ".ace"))


def test_matters(tmp_path: Path) -> None:
    """App files and context files matter; temp, VCS, ignored and state-dir paths do not."""
    ws = make(tmp_path)
    yes = ["apps.star", "web/app.star", "web/index.html", "web/new/dir/file.css",
           "web/.dockerignore", "web/keep.log"]
    no = ["web/.index.html.swp", "web/index.html~", "web/.#index.html", "web/4913",
          "web/.git/HEAD", "web/node_modules/x.js", "web/debug.log", ".ace/ace.db",
          ".ace/lock", "other.txt", "elsewhere/app.star"]
    assert [p for p in yes if not ws.matters(str(tmp_path / p))] == []
    assert [p for p in no if ws.matters(str(tmp_path / p))] == []


def test_roots_are_minimal_and_exist(tmp_path: Path) -> None:
    """Nested dirs collapse into their parent; a missing dir is watched via its parent."""
    (tmp_path / "a/b").mkdir(parents=True)
    roots = watch_roots([str(tmp_path / "a/b"), str(tmp_path / "a"), str(tmp_path / "a/gone/x")])
    assert roots == (str(tmp_path / "a"),)


class Sink:
    def __init__(self) -> None:
        self.batches: list[tuple[str, ...]] = []
        self.event = threading.Event()

    def __call__(self, paths: tuple[str, ...]) -> None:
        self.batches.append(paths)
        self.event.set()

    def wait(self, timeout: float) -> bool:
        ok = self.event.wait(timeout)
        self.event.clear()
        return ok


def test_watcher_sees_new_files_coalesces_and_ignores(tmp_path: Path) -> None:
    """A new file in a new dir of a context is seen; 30 quick saves arrive as a burst; temp
    files and the state dir wake nothing."""
    ws = make(tmp_path)
    sink = Sink()
    w = FileWatcher(sink, step_ms=80)
    w.update(ws)
    try:
        time.sleep(0.5)  # the watch is set up
        (tmp_path / "web/assets").mkdir()
        time.sleep(0.2)
        (tmp_path / "web/assets/site.css").write_text("body{}")
        end = time.monotonic() + 5
        while not any(p.endswith("site.css") for b in sink.batches for p in b):
            assert time.monotonic() < end, f"new file in a new directory not seen: {sink.batches}"
            sink.wait(0.2)
        sink.batches.clear()
        time.sleep(0.3)
        for i in range(30):
            (tmp_path / "web/index.html").write_text(f"v{i}")
            time.sleep(0.005)
        assert sink.wait(5)
        time.sleep(0.5)
        # Coalesced: one burst when the machine is quiet; a loaded machine may split it into a
        # few, never anything near one batch per save.
        assert 1 <= len(sink.batches) <= 4, sink.batches
        sink.batches.clear()
        sink.event.clear()
        (tmp_path / ".ace").mkdir()
        (tmp_path / ".ace/ace.db").write_text("x")
        (tmp_path / "web/.index.html.swp").write_text("x")
        (tmp_path / "web/debug.log").write_text("x")
        assert not sink.wait(1.0), sink.batches
    finally:
        w.stop()


def test_special_files_do_not_matter(tmp_path: Path) -> None:
    """A write into a FIFO or socket in a build context is not an edit: it wakes no pass."""
    ws = make(tmp_path)
    os.mkfifo(tmp_path / "web/pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "web/app.sock"))
        assert not ws.matters(str(tmp_path / "web/pipe"))
        assert not ws.matters(str(tmp_path / "web/app.sock"))
    assert ws.matters(str(tmp_path / "web/gone.txt"))  # a deleted file still matters
