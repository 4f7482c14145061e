"""Two processes writing one state database at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from state import Store

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
from pathlib import Path
from reconciler.core.types import RecordedApp
from state import StepOutcome, Store
state_dir, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
with Store.open(state_dir) as store:
    while not go.exists():
        time.sleep(0.005)
    for i in range(150):
        run = store.begin_run("reconcile", f"{name} {i}")
        store.record_container(f"{name}-{i}", app=f"/{name}", name=f"n{i}", version="v")
        store.record_applied(RecordedApp(f"/{name}", str(i), "img"))
        store.save_digests({f"/{name}/{i}": (i, i, "d")})
        store.recorded()
        store.finish_run(run, "ok", [StepOutcome("s", f"/{name}", "start", "t", "c", "done")])
print("ok", flush=True)
"""


def test_two_processes_write_without_database_locked(tmp_path: Path) -> None:
    """Concurrent writers from two processes (both opening a fresh state dir) all succeed:
    writes queue on the busy timeout instead of failing with "database is locked"."""
    state_dir, go = tmp_path / "state", tmp_path / "go"
    _race([[WRITER, str(state_dir), name, str(go)] for name in ("a", "b")], go)
    with Store.open(state_dir) as store:
        assert len(store.runs(limit=1000)) == 300
        assert all(r.outcome == "ok" for r in store.runs(limit=1000))
        assert len(store.containers()) == 300
        assert len(store.digest_cache("/")) == 300
        applied = [(a.path, a.version) for a in store.recorded().apps]
        assert applied == [("/a", "149"), ("/b", "149")]


OPENER = """
import sys, time
from pathlib import Path
from state import Store
state_dir, go = sys.argv[1], Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
with Store.open(state_dir) as store:
    store.begin_run("reconcile", "open race")
print("ok", flush=True)
"""


def test_many_processes_open_a_fresh_state_dir_at_once(tmp_path: Path) -> None:
    """Openers racing on a fresh database (each switching it to WAL and creating the schema)
    all succeed: the journal-mode switch, which SQLite refuses at once instead of waiting on the
    busy timeout, is retried. Several rounds, because a lost race is a matter of timing."""
    for round_ in range(2):
        state_dir, go = tmp_path / f"state{round_}", tmp_path / f"go{round_}"
        _race([[OPENER, str(state_dir), str(go)] for _ in range(6)], go)
        with Store.open(state_dir) as store:
            assert len(store.runs(limit=100)) == 6


def _race(scripts: list[list[str]], go: Path) -> None:
    """Start a Python process per `[script, *args]`, let them all go at once (by creating
    `go`), and require each to exit 0 having printed "ok"."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", *script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )  # fmt: skip
        for script in scripts
    ]
    time.sleep(0.5)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
