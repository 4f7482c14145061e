"""Safe evaluation of user Starlark: deadline, call-depth cap, memory cap, load cache and cycle
detection, and located errors.

Every evaluation of user code runs in a forked child process (`run_isolated`) whose address space
is capped with RLIMIT_AS: starlark-pyo3 has no memory limit of its own, and a single statement
such as `[1] * 2000000000` either allocates ~16 GB or, under a limit, aborts the whole process
from Rust. In a child, both end as a clear "ran out of memory" error and ace keeps running. The
child's deadline is enforced twice: by `check_cancelled` inside Starlark, and by the parent, which
kills a child that overruns it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import resource
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import starlark as sl

from apps import preload, prints
from apps.channel import Channel, channel_pair
from apps.errors import AppError

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MEMORY_LIMIT",
    "DIALECT",
    "GLOBALS",
    "MAX_CALLSTACK",
    "Deadline",
    "ErrorSink",
    "HostChannel",
    "Location",
    "column_of",
    "eval_options",
    "locate",
    "run_isolated",
    "starlark_error",
]

from apps.limits import DEFAULT_DEADLINE, DEFAULT_MEMORY_LIMIT  # noqa: E402
from apps.locate import column_of, source_line  # noqa: E402

MAX_CALLSTACK = 200  # well under 1000: deeper stacks can crash starlark-pyo3
BUILTIN_PREFIX = "<ace:"  # file names of our own prelude sources

GLOBALS = sl.Globals.extended_by(
    [sl.LibraryExtension.StructType, sl.LibraryExtension.Json, sl.LibraryExtension.CallStack]
)
DIALECT = sl.Dialect.extended()

T = TypeVar("T")

_LOCATION = re.compile(r"-->\s*(.+?):(\d+):(\d+)")
_FRAME = re.compile(r"^\s*\* (.+?):(\d+), in (\S+)\n((?:\s{6}.*\n?)?)", re.MULTILINE)
_ERROR_LINE = re.compile(r"^error: (.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int
    column: int


class Deadline:
    """A wall-clock budget for `check_cancelled`; time spent in host calls is not counted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False

    def check(self) -> bool:
        if time.monotonic() > self.end:
            self.expired = True
        return self.expired

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.end += time.monotonic() - start


def eval_options(deadline: Deadline) -> sl.EvalOptions:
    return sl.EvalOptions(check_cancelled=deadline.check, max_callstack_size=MAX_CALLSTACK)


@dataclass(slots=True)
class ErrorSink:
    """Side channel: the innermost AppError raised by our callables or loader during one
    evaluation (Starlark flattens Python exceptions to text)."""

    error: AppError | None = None

    def record(self, err: AppError) -> AppError:
        if self.error is None or (not self.error.file and err.file):
            self.error = err
        return err


def frames(text: str) -> list[tuple[str, int, str]]:
    """(file, line, source text) of each frame of a Starlark traceback or call_stack(), outermost
    first."""
    return [(m[1], int(m[2]), m[4].strip()) for m in _FRAME.finditer(text)]


def locate(text: str, is_user: Callable[[str], bool], hint: str = "") -> Location | None:
    """The user location an error text or call stack points at: the ` --> ` span when it is in a
    user file, else the innermost traceback frame in a user file."""
    m = _LOCATION.search(text)
    if m and is_user(m[1]):
        return Location(m[1], int(m[2]), int(m[3]))
    for file, line, src in reversed(frames(text)):
        if is_user(file):
            return Location(file, line, column_of(source_line(file, line) or src, hint))
    return None


def _unclosed_bracket(loc: Location, text: str) -> tuple[Location, str] | None:
    """starlark-pyo3 places a bracket left open (the parser meets a newline or the end of the
    file) at 1:1. Starlark's syntax is Python's in this respect, so Python's parser finds the
    bracket: its location, and what it says ("'(' was never closed")."""
    if (loc.line, loc.column) != (1, 1) or "Parse error: unexpected new line" not in text:
        return None
    try:
        with open(loc.file, encoding="utf-8") as f:
            source = f.read()
        compile(source, loc.file, "exec", dont_inherit=True)
    except SyntaxError as e:
        if e.lineno and "never closed" in str(e.msg):
            return Location(loc.file, e.lineno, e.offset or 1), str(e.msg)
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    return None


def error_message(text: str) -> str:
    m = _ERROR_LINE.search(text)
    return m[1].strip() if m else text.strip().splitlines()[-1] if text.strip() else "error"


def starlark_error(
    exc: BaseException,
    *,
    app: str,
    sink: ErrorSink,
    is_user: Callable[[str], bool],
    deadline: Deadline | None,
    fallback: Location,
    rewrite: Callable[[str, str], str] | None = None,
) -> AppError:
    """Turn whatever an evaluation raised into one located AppError."""
    if isinstance(exc, AppError) and exc.file:
        return exc
    if sink.error is not None and sink.error.file:
        return sink.error
    text = str(exc)
    loc = locate(text, is_user) or fallback
    unclosed = _unclosed_bracket(loc, text)
    if unclosed is not None:
        loc, what = unclosed
        return AppError(f"Parse error: {what}; close it (or remove it)", app=app,
                        file=loc.file, line=loc.line, column=loc.column)
    if sink.error is not None:
        message = sink.error.message
    elif isinstance(exc, AppError):
        message = exc.message
    elif deadline is not None and deadline.expired:
        message = (
            f"evaluation did not finish within {deadline.seconds:g} s; "
            "look for an endless loop or recursion"
        )
    elif "call stack overflow" in text:
        message = (
            f"call stack deeper than {MAX_CALLSTACK} frames; look for unbounded recursion"
        )
    else:
        message = error_message(text)
        if rewrite is not None:
            message = rewrite(message, text)
    return AppError(message, app=app, file=loc.file, line=loc.line, column=loc.column)


# ---------------------------------------------------------------------------------------------
# Isolation in a forked child


class HostChannel:
    """Lets code in the child ask the parent to run a host function (e.g. `container.run`)."""

    def __init__(self, conn: Channel | None, handler: Callable[[str, Any], Any] | None) -> None:
        self._conn = conn
        self._handler = handler
        self.deadline: Deadline | None = None

    def call(self, kind: str, payload: Any) -> Any:
        ctx = self.deadline.paused() if self.deadline else contextlib.nullcontext()
        with ctx:
            if self._conn is None:
                if self._handler is None:
                    raise RuntimeError(f"no host handler for {kind}")
                return self._handler(kind, payload)
            _flush_prints(self._conn)
            self._conn.send(("host", kind, payload))
            status, value = self._conn.recv()
        if status == "error":
            raise _HostCallError(str(value))
        return value


class _HostCallError(Exception):
    pass


@dataclass(slots=True)
class _Outcome:
    status: str
    value: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _flush_prints(conn: Channel) -> None:
    """The child's prints so far, to the parent (which hands them to its print handler)."""
    pending = prints.take()
    if pending:
        conn.send(("prints", pending))


def _child(conn: Channel, fn: Callable[[HostChannel], Any], memory_limit: int) -> None:
    try:
        prints.start_buffer()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # Rust panics print to fd 2; the parent reports them instead
        faulthandler.disable()  # an intended crash here is reported by the parent, not dumped
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            soft = _address_space() + memory_limit
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        try:
            out = _Outcome("ok", fn(HostChannel(conn, None)))
        except AppError as e:
            out = _Outcome("apperror", (e.message, e.app, e.file, e.line, e.column))
        except MemoryError:
            out = _Outcome("oom")
        except BaseException as e:  # PanicException derives from BaseException
            if type(e).__name__ == "PanicException":
                out = _Outcome("oom", str(e))
            else:
                import traceback  # a crash only

                out = _Outcome("crash", "".join(traceback.format_exception(e))[-2000:])
        _flush_prints(conn)
        conn.send(out)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        pass
    finally:
        os._exit(0)


def run_isolated(
    fn: Callable[[HostChannel], T],
    *,
    app: str,
    timeout: float,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    fallback: Location,
    host: Callable[[str, Any], Any] | None = None,
    rearm: bool = False,
) -> T:
    """Run `fn` in a forked child with an address-space cap and a hard timeout. AppErrors raised
    in the child are re-raised here; running out of memory, a crash or a timeout become AppErrors
    at `fallback`. `host(kind, payload)` serves the child's `HostChannel.call` requests; with
    `rearm`, each such request starts the timeout afresh (a child working through many items
    reports each one)."""

    def fail(message: str) -> AppError:
        return AppError(
            message, app=app, file=fallback.file, line=fallback.line, column=fallback.column
        )

    if not hasattr(os, "fork"):  # pragma: no cover - non-POSIX: no isolation available
        return fn(HostChannel(None, host))
    parent_conn, child_conn = channel_pair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        parent_conn.close()
        _child(child_conn, fn, memory_limit)
    child_conn.close()
    outcome: _Outcome | None = None
    try:  # (an interrupt during the parent's own next imports still reaps the child)
        preload.while_waiting(lambda: parent_conn.poll(0))
        end = time.monotonic() + timeout
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0 or not parent_conn.poll(remaining):
                if remaining <= 0 or not _alive(pid):
                    break
                continue
            try:
                msg = parent_conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(msg, _Outcome):
                outcome = msg
                break
            if msg[0] == "prints":
                prints.deliver(msg[1])
                continue
            _, kind, payload = msg
            started = time.monotonic()
            try:
                reply: tuple[str, Any] = ("ok", host(kind, payload) if host else None)
                if host is None:
                    reply = ("error", f"{kind} is not available here")
            except Exception as e:  # the host's failure becomes the Starlark call's failure
                reply = ("error", str(e) or type(e).__name__)
            end = time.monotonic() + timeout if rearm else end + time.monotonic() - started
            parent_conn.send(reply)
    finally:
        parent_conn.close()
        status = _reap(pid, kill=outcome is None)
    if outcome is None:
        if status is not None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGKILL and time.monotonic() >= end:
                raise fail(
                    f"evaluation did not finish within {timeout:g} s; "
                    "look for an endless loop or recursion"
                )
            if sig == signal.SIGABRT:
                raise fail(_oom_message(memory_limit))
            raise fail(f"evaluation crashed (signal {sig}); simplify the Starlark code")
        if time.monotonic() >= end:
            raise fail(f"evaluation did not finish within {timeout:g} s")
        raise fail(_oom_message(memory_limit))
    if outcome.status == "ok":
        return outcome.value  # type: ignore[no-any-return]
    if outcome.status == "apperror":
        message, app_, file, line, column = outcome.value
        raise AppError(message, app=app_, file=file, line=line, column=column)
    if outcome.status == "oom":
        raise fail(_oom_message(memory_limit))
    raise fail(f"internal error while evaluating: {outcome.value}")


def _oom_message(limit: int) -> str:
    return (
        f"evaluation ran out of memory (limit {limit >> 20} MiB); "
        "look for values that grow without bound"
    )


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    if done:
        _STATUS[pid] = _
        return False
    return True


_STATUS: dict[int, int] = {}


def _reap(pid: int, *, kill: bool) -> int | None:
    if pid in _STATUS:
        return _STATUS.pop(pid)
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return status
