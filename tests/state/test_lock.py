"""The state-dir lock: one holder, a waiter told who holds it, no stale locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apps.errors import StateError
from state import LOCK_NAME, StateLock

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from state import StateLock
lock = StateLock(sys.argv[1], command="ace reconcile --parallel 4").acquire(timeout=5)
print("locked", flush=True)
time.sleep(60)
"""


def _spawn_holder(state_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_holder_writes_pid_and_command(state_dir: Path) -> None:
    """The holder's pid and command are in the lock file while held, and cleared on release."""
    with StateLock(state_dir, command="ace plan").acquire(timeout=0) as lock:
        assert lock.held
        assert (state_dir / LOCK_NAME).read_text() == f"{os.getpid()} ace plan\n"
        assert lock.holder() == f"pid {os.getpid()} (ace plan)"
    assert not lock.held
    assert (state_dir / LOCK_NAME).read_text() == ""


def test_second_acquirer_waits_then_times_out_naming_holder(state_dir: Path) -> None:
    """While another process holds the lock, acquire calls on_wait once with the holder's
    pid and command, keeps polling until the timeout, then raises StateError naming it."""
    proc = _spawn_holder(state_dir)
    try:
        messages: list[str] = []
        start = time.monotonic()
        with pytest.raises(StateError) as err:
            StateLock(state_dir).acquire(timeout=0.5, on_wait=messages.append)
        assert time.monotonic() - start >= 0.5
        holder = f"pid {proc.pid} (ace reconcile --parallel 4)"
        assert messages == [f"waiting for {holder} to release the state dir {state_dir}"]
        assert f"locked by {holder}; gave up after 0.5s" in str(err.value)
        assert "--lock-timeout" in str(err.value)
    finally:
        proc.kill()
        proc.wait()


def test_waiter_gets_lock_when_released(state_dir: Path) -> None:
    """A waiter acquires as soon as the holder releases, well within its timeout."""
    first = StateLock(state_dir, command="first").acquire()
    timer = threading.Timer(0.3, first.release)
    timer.start()
    messages: list[str] = []
    start = time.monotonic()
    with StateLock(state_dir, command="second").acquire(timeout=10, on_wait=messages.append):
        waited = time.monotonic() - start
        assert (state_dir / LOCK_NAME).read_text() == f"{os.getpid()} second\n"
    timer.join()
    assert 0.3 <= waited < 2
    assert len(messages) == 1 and f"pid {os.getpid()} (first)" in messages[0]


def test_sigkilled_holder_never_blocks(state_dir: Path) -> None:
    """A holder killed with SIGKILL releases the lock with its process: the next acquire
    succeeds at once, without waiting."""
    proc = _spawn_holder(state_dir)
    with pytest.raises(StateError, match=f"pid {proc.pid}"):
        StateLock(state_dir).acquire(timeout=0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    messages: list[str] = []
    with StateLock(state_dir).acquire(timeout=0, on_wait=messages.append) as lock:
        assert lock.held
    assert messages == []


def test_context_manager_and_double_acquire(state_dir: Path) -> None:
    """`with StateLock(d)` tries once and releases on exit; acquiring a held lock object
    twice is an error; release is idempotent."""
    with StateLock(state_dir) as lock:
        with pytest.raises(StateError, match="already held by this process"):
            lock.acquire()
        with pytest.raises(StateError, match="locked by"):
            StateLock(state_dir).acquire(timeout=0)
    lock.release()
    with StateLock(state_dir):
        pass
