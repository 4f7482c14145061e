"""ace's command server: imports ace once, then forks a worker per command (`cli.client`).

The server imports what `reconcile`, `plan`, `status` and `drift` load and listens on its
socket (reachable by this user only). It never opens a database or an engine connection and
runs no thread: each worker starts from the same clean, imported state, and a worker's pass is
its own process, as a command run in the client would be.

Per command: the server checks that the client runs the same configuration (`client.config`)
and that ace's code has not changed since it started (else it refuses and exits, and the client
runs the command itself and starts a fresh server). A worker takes the client's stdin, stdout
and stderr, working directory, environment, umask, sys.path and arguments, tells the client its
pid (signals are passed on to it) and waits for the go-ahead (a client that gave up gets no
worker), runs `cli.app.main`, and sends the exit status. A client that goes away stops its
worker as Ctrl-C would. The server exits after ACE_SERVER_IDLE seconds without a command, or
when its socket is no longer its own.
"""

from __future__ import annotations

import contextlib
import gc
import io
import marshal
import os
import signal
import socket
import sys
import threading
import time
from importlib import import_module

from reconciler.cli import client

__all__ = ["PRELOAD", "code_stamp", "main"]

# what the served commands load (more load in the worker when a command needs them)
PRELOAD = (
    "reconciler.cli.app", "reconciler.cli.fast", "reconciler.cli.converge",
    "reconciler.cli.inspect", "reconciler.cli.render", "reconciler.apply.pipeline",
    "reconciler.core.changes", "reconciler.core.status", "reconciler.core.report",
    "reconciler.core.cluster", "state.runs", "reconciler.apply.executor",
    "reconciler.applogs.buildlogs", "reconciler.driver.lifecycle", "apps.appsfile",
    "apps.runtime", "reconciler.driver.swarm.engine", "reconciler.proxy.address",
    "encodings.ascii",
)
_PACKAGES = ("apps", "state", "reconciler")
_MAX_REQUEST = 16 << 20
_CHECK_EVERY = 60.0  # seconds between checks that the socket is still this server's


def code_stamp() -> tuple[object, ...]:
    """What ace runs: every source file of its packages (path, size, mtime), and the
    directories the interpreter's standard library and installed packages live in."""
    files: list[tuple[str, int, int]] = []
    for package in _PACKAGES:
        for top, dirs, names in os.walk(os.path.join(client.ROOT, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".py"):
                    path = os.path.join(top, name)
                    with contextlib.suppress(OSError):
                        st = os.stat(path)
                        files.append((path, st.st_size, st.st_mtime_ns))
    dirs = [os.path.dirname(os.__file__)]
    starlark = sys.modules.get("starlark")
    if starlark is not None and starlark.__file__:
        dirs.append(os.path.dirname(os.path.dirname(starlark.__file__)))
    return tuple(files) + tuple(os.stat(d).st_mtime_ns for d in dirs)


def _recv_request(conn: socket.socket) -> tuple[tuple[object, ...], list[int]]:
    """The client's request and the three descriptors it passed (any passed descriptor is
    closed again when the request is not one)."""
    fds: list[int] = []
    try:
        data, ancdata, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4))
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                        for i in range(0, usable, 4)]
        if len(data) < 4:
            data += client.read_exactly(conn, 4 - len(data))
        size = int.from_bytes(data[:4], "big")
        if size > _MAX_REQUEST:
            raise ValueError("request too large")
        request = marshal.loads(data[4:] + client.read_exactly(conn, size - len(data) + 4))
        if not isinstance(request, tuple) or len(fds) != 3:
            raise ValueError("malformed request")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return request, fds


def _stdio() -> None:
    """New sys.stdin/stdout/stderr on descriptors 0-2 (now the client's), made as Python
    makes them at start-up: stdout line-buffered at a terminal, stderr always."""
    enc, unbuffered = sys.stdout.encoding, bool(getattr(sys.stdout, "write_through", False))

    def stream(fd: int, mode: str, errors: str, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered: io.BufferedWriter | io.BufferedReader = (
            io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw))
        return io.TextIOWrapper(buffered, encoding=enc, errors=errors, line_buffering=line,
                                write_through=unbuffered and mode == "w")

    streams = {"stdin": stream(0, "r", sys.stdin.errors or "strict", False),
               "stdout": stream(1, "w", sys.stdout.errors or "strict",
                                os.isatty(1) or unbuffered),
               "stderr": stream(2, "w", "backslashreplace", True)}
    for name, value in streams.items():
        setattr(sys, name, value)
        setattr(sys, f"__{name}__", value)


def _status(exc: SystemExit) -> int:
    """The exit status Python gives a SystemExit (a message is printed, and is 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _watch_client(conn: socket.socket) -> None:
    """Stop the worker as Ctrl-C would once the client has gone (killed, or its terminal)."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    os.kill(os.getpid(), signal.SIGINT)


def _work(conn: socket.socket, request: tuple[object, ...], fds: list[int]) -> None:
    """The worker: run the client's command here, as it would run there."""
    _conf, argv, cwd, environ, umask, path = request
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    status = 1
    try:
        conn.sendall(b"P" + os.getpid().to_bytes(8, "big"))
        conn.settimeout(client._ANSWER_TIMEOUT)
        if conn.recv(1) != b"G":
            os._exit(0)  # the client gave up waiting and runs the command itself
        conn.settimeout(None)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _stdio()
        import_module("reconciler.cli.render").reopen()  # its consoles saw the server's stdio
        os.chdir(str(cwd))
        os.umask(int(str(umask)))
        assert isinstance(environ, dict) and isinstance(argv, list) and isinstance(path, list)
        os.environ.clear()
        os.environ.update(environ)
        time.tzset()
        sys.argv = [str(a) for a in argv]
        sys.path[:] = [str(p) for p in path]
        threading.Thread(target=_watch_client, args=(conn,), daemon=True).start()
        before = set(sys.modules)
        try:
            import_module("reconciler.cli.app").main()
            status = 0
        except SystemExit as exc:
            status = _status(exc)
        except KeyboardInterrupt:
            status = 130
        finally:
            _trace(before)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
        # the client exits on the status: its going away is no interrupt any more
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        conn.sendall(b"E" + status.to_bytes(4, "big", signed=True))
    except BaseException:  # noqa: BLE001 - nothing may escape a forked worker
        import traceback

        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
            conn.sendall(b"E" + status.to_bytes(4, "big", signed=True))
    finally:
        os._exit(status & 0xFF)


def _trace(before: set[str]) -> None:
    """ACE_SERVER_TRACE=FILE: a line per served command (its pid, and the modules it had
    to import beyond the server's)."""
    target = os.environ.get("ACE_SERVER_TRACE")
    if target:
        loaded = sorted(set(sys.modules) - before)
        with contextlib.suppress(OSError), open(target, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {' '.join(sys.argv[1:2])} {','.join(loaded)}\n")


def _refuse(conn: socket.socket, why: bytes, fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
    with contextlib.suppress(OSError):
        conn.sendall(b"R" + why.ljust(8, b"-"))


def _listen(path: str) -> socket.socket:
    """The server's socket at `path`: bound beside it and moved into place once listening (a
    client never meets a socket that does not answer yet). A failed start removes the marker
    that kept other clients from starting a server meanwhile."""
    temp = f"{path}.{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(temp)
        sock.listen(64)
        os.rename(temp, path)
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path + ".starting")
    return sock


def _stop(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve(path: str, idle: float) -> None:
    """Accept commands at `path` until idle for `idle` seconds or the code changes."""
    conf = client.config()
    stamp = code_stamp()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    signal.signal(signal.SIGTERM, _stop)  # `kill PID` removes the socket and pid file too
    uid = os.getuid()
    sock = _listen(path)
    inode = os.stat(path).st_ino
    with open(path + ".pid", "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
    try:
        last = time.monotonic()
        while True:
            wait = min(_CHECK_EVERY, idle - (time.monotonic() - last))
            if wait <= 0:
                return
            sock.settimeout(wait)
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                try:
                    if os.stat(path).st_ino != inode:
                        return  # another server took the path
                except OSError:
                    return
                continue
            last = time.monotonic()
            with conn:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                if int.from_bytes(creds[4:8], sys.byteorder) != uid:
                    continue
                conn.settimeout(client._ANSWER_TIMEOUT)
                try:
                    request, fds = _recv_request(conn)
                except (OSError, EOFError, ValueError):
                    continue
                if request[0] != conf:
                    _refuse(conn, b"C", fds)
                    continue
                if code_stamp() != stamp:
                    _refuse(conn, b"S", fds)
                    return
                if os.fork() == 0:
                    sock.close()
                    _work(conn, request, fds)
                for fd in fds:
                    os.close(fd)
    finally:
        sock.close()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)
                os.unlink(path + ".pid")


def main(path: str) -> None:
    """Import what the served commands load, then serve at `path`."""
    try:
        idle = float(os.environ.get("ACE_SERVER_IDLE", "600"))
    except ValueError:
        idle = 600.0
    try:
        for name in PRELOAD:
            import_module(name)
        gc.collect()
        gc.freeze()  # what the server holds is never collected again: workers share its pages
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path + ".starting")  # the next command tries again
        raise
    serve(path, idle)
