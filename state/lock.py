"""One ace command per state dir at a time: an exclusive flock on `<state_dir>/lock`.

The kernel drops a flock when its holder dies (even by SIGKILL), so a stale lock never blocks.
The holder writes its pid and command into the file, for the waiter's message; the file itself
is never deleted (deleting a locked file would let two processes lock different inodes).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from apps.errors import StateError

__all__ = ["LOCK_NAME", "StateLock"]

LOCK_NAME = "lock"
_POLL_MIN = 0.02
_POLL_MAX = 0.25


class StateLock:
    """An exclusive lock on a state dir: `with StateLock(d).acquire(30, on_wait): ...`.

    `with StateLock(d):` alone tries once (timeout 0). `close()`/`release()` frees it."""

    def __init__(self, state_dir: str | Path, *, command: str | None = None) -> None:
        self._dir = Path(state_dir)
        self._path = self._dir / LOCK_NAME
        self._command = command if command is not None else " ".join(sys.argv)
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as written in the lock file: "pid N (command)"."""
        try:
            text = self._path.read_text(errors="replace").strip()
        except OSError:
            return "an unknown process"
        pid, _, command = text.partition(" ")
        if not pid.isdigit():
            return "an unknown process"
        return f"pid {pid} ({command})" if command else f"pid {pid}"

    def acquire(
        self, timeout: float = 0.0, on_wait: Callable[[str], None] | None = None
    ) -> StateLock:
        """Take the lock, polling for up to `timeout` seconds. If it is held, `on_wait` is
        called once with a message naming the holder. Raises StateError on timeout."""
        if self._fd is not None:
            raise StateError(f"state lock {self._path} is already held by this process")
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise StateError(f"cannot open state lock {self._path}: {e}") from e
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = _POLL_MIN
        warned = False
        try:
            while not _try_lock(fd):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StateError(
                        f"state dir {self._dir} is locked by {self.holder()}; gave up after "
                        f"{timeout:g}s. Wait for it to finish, or raise --lock-timeout"
                    )
                if not warned and on_wait is not None:
                    on_wait(f"waiting for {self.holder()} to release the state dir {self._dir}")
                warned = True
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _POLL_MAX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self._command}\n".encode(), 0)
        except BaseException:
            os.close(fd)  # closing the descriptor also drops the flock if we got it
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Free the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # while still holding it: the next holder writes its own
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    close = release

    def __enter__(self) -> StateLock:
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
