"""`ace`'s entry point, and the client of ace's command server (`cli.server`).

Python spends ~45 ms starting ace and importing what a pass needs: most of what a no-op costs,
and the part of a one-service change that is not the engine's. A command server per user pays
it once: it imports ace, then forks a worker per command. The worker takes this process's
stdin, stdout and stderr (passed over a Unix socket), its working directory, environment,
umask and arguments, runs the command exactly as `cli.app.main` would here, and sends back the
exit status. Signals (Ctrl-C) are passed on to the worker.

Only `reconcile`, `plan`, `status` and `drift` go to the server (short, no prompts). Everything
else, and any case the server cannot serve as this process would (a different interpreter,
interpreter options or locale; ace's code changed since the server started; no safe place for
the socket), runs here as before. When no server answers, this command starts one in the
background (for the next command) and runs here.

`ACE_SERVER`: `0` never uses or starts a server, `1` always does; unset or `auto`: on, except
when `CI` is set (a one-shot run leaves no process behind). `ACE_SERVER_IDLE`: seconds the
server waits for a command before it exits (600). `ACE_RUNTIME_DIR`: where the socket lives
(default `$XDG_RUNTIME_DIR/ace`, else `/tmp/ace-UID`; it must be this user's, mode 0700).

This module imports nothing of ace and only built-in modules: it runs before every command.
"""

from __future__ import annotations

import _socket
import binascii
import marshal
import os
import sys

__all__ = ["COMMANDS", "PROTOCOL", "config", "enabled", "main", "read_exactly", "runtime_dir",
           "served", "socket_path"]

PROTOCOL = 1
COMMANDS = frozenset({"reconcile", "plan", "status", "drift"})
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_ANSWER_TIMEOUT = 5.0  # seconds to wait for a server to take the command before running here
_SPAWN_GRACE = 10.0  # seconds a server start in progress keeps others from starting one too
_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


def enabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether commands go through a command server (ACE_SERVER, else not under CI)."""
    setting = environ.get("ACE_SERVER", "auto").strip().lower()
    if setting in ("0", "off", "no", "false"):
        return False
    if setting in ("1", "on", "yes", "true"):
        return True
    return environ.get("CI", "").strip().lower() in ("", "0", "false")


def config() -> tuple[object, ...]:
    """What a server must share with this process to run its command as it would run here:
    the interpreter, ace's code location, the user, interpreter options and the environment
    Python reads at start-up (PYTHON*, locale)."""
    env = sorted((k, v) for k, v in os.environ.items()
                 if k.startswith(("PYTHON", "LC_")) or k == "LANG")
    return (PROTOCOL, sys.executable, ROOT, os.getuid(), tuple(sys.flags),
            sorted(sys._xoptions.items()), tuple(sys.warnoptions), tuple(env))


def runtime_dir() -> str | None:
    """The directory for the server's socket, made if missing: None when it is not this
    user's alone (another user could then reach or replace the socket)."""
    chosen = os.environ.get("ACE_RUNTIME_DIR")
    if not chosen:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        chosen = os.path.join(xdg, "ace") if xdg else f"/tmp/ace-{os.getuid()}"
    try:
        os.mkdir(chosen, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(chosen)
    except OSError:
        return None
    if (st.st_mode & 0o170000) != 0o040000 or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return chosen


def socket_path(directory: str, conf: tuple[object, ...]) -> str:
    """The server socket for `conf` (a server checks the whole of it before serving)."""
    blob = repr(conf).encode("utf-8", "surrogatepass")  # (marshal's bytes vary with refcounts)
    return os.path.join(directory, f"s{binascii.crc32(blob):08x}{binascii.crc_hqx(blob, 0):04x}")


def read_exactly(sock: _socket.socket, n: int) -> bytes:
    """`n` bytes from `sock` (EOFError when it closes first)."""
    parts = b""
    while len(parts) < n:
        chunk = sock.recv(n - len(parts))
        if not chunk:
            raise EOFError
        parts += chunk
    return parts


def _request(conf: tuple[object, ...]) -> bytes:
    old = os.umask(0o022)
    os.umask(old)
    request: tuple[object, ...] = (conf, list(sys.argv), os.getcwd(), dict(os.environ), old,
                                   list(sys.path))
    body = marshal.dumps(request)  # type: ignore[arg-type]
    return len(body).to_bytes(4, "big") + body


def _forward(pid: int) -> None:
    """Pass this process's terminating signals on to the worker (it stops as ace stops)."""
    import _signal

    def handler(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib is not loaded here (this runs before every command)
            os.kill(pid, signum)
        except OSError:
            pass

    for name in _FORWARDED:
        _signal.signal(getattr(_signal, name), handler)


def _unforward() -> None:
    """Signals as Python sets them (the command runs here after all)."""
    import _signal

    for name in _FORWARDED:
        signum = getattr(_signal, name)
        _signal.signal(signum, _signal.default_int_handler if name == "SIGINT"
                       else _signal.SIG_DFL)


def served(argv: list[str]) -> int | None:
    """Run the command through a command server and return its exit status, or None when
    it is to run in this process (starting a server for the next command when none runs)."""
    if not argv or argv[0] not in COMMANDS or not enabled():
        return None
    directory = runtime_dir()
    if directory is None:
        return None
    conf = config()
    path = socket_path(directory, conf)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            _spawn(path)
            return None
        data = _request(conf)
        sock.settimeout(_ANSWER_TIMEOUT)
        fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
        sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(data[sent:])
        answer = read_exactly(sock, 9)
        if answer[:1] != b"P":  # refused (another configuration, or ace's code changed)
            sock.close()
            if answer[1:2] == b"S":  # that server exits: start one running today's code
                _spawn(path)
            return None
        pid = int.from_bytes(answer[1:], "big")
        _forward(pid)
        try:
            sock.sendall(b"G")  # from here on the command is the worker's
        except OSError:
            _unforward()
            raise
        sock.settimeout(None)
    except (OSError, EOFError, ValueError):
        sock.close()
        return None
    try:
        status = read_exactly(sock, 5)
    except (OSError, EOFError):
        sys.stderr.write("ace: the command's worker ended without an exit status (killed?)\n")
        return 1
    finally:
        sock.close()
    return int.from_bytes(status[1:], "big", signed=True)


def _spawn(path: str) -> None:
    """Start a server for `path` in the background, detached from this process and its
    terminal; at most one start at a time (a marker file taken exclusively)."""
    import time

    marker = path + ".starting"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            if time.time() - os.stat(marker).st_mtime < _SPAWN_GRACE:
                return
            os.unlink(marker)  # a start that died: try again next time
        except OSError:
            pass
        return
    except OSError:
        return
    os.close(fd)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the intermediate child
        try:
            os.setsid()
            if os.fork() == 0:
                _exec_server(path)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _exec_server(path: str) -> None:  # pragma: no cover - runs in the detached grandchild
    """Become the server: stdin from /dev/null, output to PATH.log (a server that fails to
    start says why there), no descriptor of the client's kept, not in its directory."""
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(path + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 4096)
    os.chdir("/")
    import subprocess  # the interpreter options this process runs with (-X, -W, -O, ...)

    flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from reconciler.cli.server import main; main(sys.argv[2])")
    os.execv(sys.executable, [sys.executable, *flags, "-c", code, ROOT, path])


def main() -> None:
    """`ace`: through the command server when one serves the command, else here."""
    status = served(sys.argv[1:])
    if status is not None:
        os._exit(status & 0xFF)
    from reconciler.cli.app import main as app_main

    app_main()
