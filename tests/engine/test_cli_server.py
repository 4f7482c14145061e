"""ace's command server against the real engine: commands forked from a warm server behave as
the same commands run in their own process (output, exit status, errors, working directory,
environment, terminal), Ctrl-C and a killed client stop the worker, a change to ace's code or
an idle server ends it, and no server runs where it should not (CI, an unsafe directory)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import client
from tests.engine.appkit import HELLO_APP_STAR, Project

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """ace commands run as a user runs them (`python -m reconciler ...`), with a command server
    in a private runtime dir; `trace` lists the commands a worker served."""

    def __init__(self, runtime: Path, project: Project) -> None:
        self.runtime = runtime
        self.project = project
        self.env = {**os.environ, "ACE_SERVER": "1", "ACE_RUNTIME_DIR": str(runtime),
                    "ACE_SERVER_TRACE": str(runtime / "trace"), "ACE_SERVER_IDLE": "120"}
        self.env.pop("CI", None)

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            file: bool = True) -> subprocess.CompletedProcess[str]:
        more = ["-f", str(self.project.apps_file)] if file else []
        return subprocess.run([sys.executable, "-m", "reconciler", *args, *more],
                              env=env or self.env, cwd=cwd or ROOT, capture_output=True,
                              text=True, timeout=120)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "reconciler", *args, "-f",
                                 str(self.project.apps_file)], env=self.env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sockets(self) -> list[Path]:
        return [p for p in self.runtime.iterdir() if p.is_socket()]

    def server_pid(self, timeout: float = 30.0) -> int:
        """The running server's pid, once it listens."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pids = [p for p in self.runtime.glob("*.pid") if p.with_suffix("").is_socket()]
            if pids:
                return int(pids[0].read_text())
            time.sleep(0.05)
        logs = {p.name: p.read_text() for p in self.runtime.glob("*.log")}
        raise AssertionError(f"no command server started; its log: {logs}")

    def traced(self) -> list[tuple[int, str, list[str]]]:
        """(worker pid, command, modules it imported beyond the server's) per served command."""
        trace = self.runtime / "trace"
        if not trace.exists():
            return []
        rows = []
        for line in trace.read_text().splitlines():
            pid, command, modules = (line.split(" ") + [""])[:3]
            rows.append((int(pid), command, [m for m in modules.split(",") if m]))
        return rows

    def workers(self, server: int) -> list[int]:
        """Live processes whose parent is the server (its workers)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == server and fields[0] != "Z":
                    found.append(int(stat.parent.name))
        return found


@pytest.fixture
def served(project: Project) -> Iterator[Served]:
    runtime = Path(tempfile.mkdtemp(prefix="ace-rt-", dir="/tmp"))  # a socket path is short
    kit = Served(runtime, project)
    try:
        yield kit
    finally:
        for pid_file in runtime.glob("*.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        shutil.rmtree(runtime, ignore_errors=True)


def _hello(project: Project, greeting: str = "hello") -> None:
    project.write("hello/app.star", HELLO_APP_STAR.replace("echo hello", f"echo {greeting}"))
    project.apps('app("/hello", "./hello")')


def test_served_commands_match_their_own_process(served: Served, project: Project) -> None:
    """The first command starts the server and runs in its own process; later ones are served
    by workers that import nothing more, with the same output and exit status."""
    _hello(project)
    first = served.run("reconcile")
    assert first.returncode == 0, first.stderr
    assert served.traced() == []
    served.server_pid()
    noop = served.run("reconcile", "--detailed-exitcode")
    assert noop.returncode == 0, noop.stderr
    _hello(project, "changed")
    change = served.run("reconcile", "--json", "--detailed-exitcode")
    assert change.returncode == 2, change.stderr
    steps = json.loads(change.stdout)["steps"]
    assert [(s["app"], s["action"]) for s in steps] == [("/hello", "replace")], steps
    served_status = served.run("status", "--json")
    own_status = served.run("status", "--json", env={**served.env, "ACE_SERVER": "0"})
    assert served_status.returncode == own_status.returncode == 0
    assert json.loads(served_status.stdout) == json.loads(own_status.stdout)
    drift = served.run("drift")
    assert (drift.returncode, drift.stdout) == (0, "in sync\n"), drift.stderr
    rows = served.traced()
    assert [r[1] for r in rows] == ["reconcile", "reconcile", "status", "drift"]
    assert len({r[0] for r in rows}) == 4  # a worker per command
    assert all(not [m for m in r[2] if m.split(".")[0] in ("apps", "state", "reconciler")]
               for r in rows), rows
    (container,) = project.containers("/hello")
    assert container.status == "running"


def test_errors_working_dir_and_environment_are_the_clients(served: Served,
                                                            project: Project) -> None:
    """A broken app's error names its file and line through the server as without it; a
    relative apps file is found from the client's directory, ACE_FILE from its environment."""
    _hello(project)
    assert served.run("reconcile").returncode == 0
    served.server_pid()
    project.write("hello/app.star", 'load("container.in", "container")\napp = ace.app(\n')
    broken = served.run("reconcile")
    own = served.run("reconcile", env={**served.env, "ACE_SERVER": "0"})
    assert broken.returncode == own.returncode != 0
    assert broken.stderr == own.stderr
    assert "app.star:2" in broken.stderr, broken.stderr
    _hello(project)
    relative = served.run("plan", "-f", "apps.star", cwd=project.root, file=False)
    assert relative.returncode == 0, relative.stderr
    by_env = served.run("drift", file=False, env={**served.env, "ACE_FILE": str(
        project.apps_file)})
    assert (by_env.returncode, by_env.stdout) == (0, "in sync\n"), by_env.stderr
    assert [r[1] for r in served.traced()] == ["reconcile", "plan", "drift"]


def test_a_terminal_stays_a_terminal(served: Served, project: Project) -> None:
    """A worker writes to the client's terminal as a terminal (colours, as ace run there)."""
    _hello(project)
    assert served.run("reconcile").returncode == 0
    served.server_pid()

    def status_at_a_terminal(server: str) -> bytes:
        leader, follower = pty.openpty()
        env = {**served.env, "ACE_SERVER": server, "COLUMNS": "160"}
        env.pop("NO_COLOR", None)
        proc = subprocess.run([sys.executable, "-m", "reconciler", "status", "-f",
                               str(project.apps_file)], env=env, stdout=follower,
                              stderr=subprocess.PIPE, timeout=60)
        os.close(follower)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(leader, 65536):
                out += chunk
        os.close(leader)
        assert proc.returncode == 0, proc.stderr
        return out

    at_terminal = status_at_a_terminal("1")
    assert b"\x1b[" in at_terminal and b"/hello" in at_terminal
    assert [r[1] for r in served.traced()] == ["status"]
    assert b"\x1b[" in status_at_a_terminal("0")  # as ace in its own process


def _blocking(project: Project) -> None:
    """An app whose health check never answers: reconcile waits for it (health timeout)."""
    project.write("slow/app.star", 'load("container.in", "container")\n'
                  'app = ace.app("Slow", container=container.config("image:busybox", port=8080,'
                  ' health="/nothing-here", command=["sleep", "600"]))\n')
    project.apps('app("/slow", "./slow")')


def _wait_for_container(project: Project, app: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if project.containers(app):
            return
        time.sleep(0.1)
    raise AssertionError(f"no container of {app} appeared")


def _blocked(served: Served, project: Project) -> tuple[int, subprocess.Popen[str]]:
    """The server's pid, and a served reconcile waiting on a health check (6 s at most)."""
    _hello(project)
    assert served.run("reconcile").returncode == 0
    server = served.server_pid()
    _blocking(project)
    proc = served.spawn("reconcile", "--health-timeout", "6")
    _wait_for_container(project, "/slow")
    assert served.workers(server)
    return server, proc


def test_ctrl_c_reaches_the_worker(served: Served, project: Project) -> None:
    """Ctrl-C on the client stops the worker's pass as it stops ace's own: the step in flight
    (here a health wait of 6 s) ends, then exit 130. The server goes on serving."""
    server, proc = _blocked(served, project)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        ps = subprocess.run(["ps", "-eo", "pid,ppid,stat,wchan:24,cmd"], capture_output=True,
                            text=True).stdout
        raise AssertionError(f"client {proc.pid} still runs; server {server}:\n{ps}") from None
    assert proc.returncode == 130, err
    end = time.monotonic() + 10
    while served.workers(server) and time.monotonic() < end:
        time.sleep(0.05)
    assert served.workers(server) == []
    _hello(project)
    drift = served.run("drift")
    assert drift.returncode == 2 and "/hello  pending" in drift.stdout, drift.stdout
    assert served.traced()[-1][1] == "drift"


def test_a_killed_client_stops_its_worker(served: Served, project: Project) -> None:
    """A client killed outright (no signal to pass on) still ends its worker's pass."""
    server, proc = _blocked(served, project)
    proc.kill()
    proc.wait(timeout=10)
    end = time.monotonic() + 20
    while served.workers(server) and time.monotonic() < end:
        time.sleep(0.05)
    assert served.workers(server) == []


def test_changed_code_ends_the_server(served: Served, project: Project) -> None:
    """After a change to ace's code the server refuses (the command runs in its own process
    with the new code) and exits; the next command is served by a fresh server."""
    _hello(project)
    assert served.run("reconcile").returncode == 0
    old = served.server_pid()
    assert served.run("drift").returncode == 0
    assert len(served.traced()) == 1
    source = ROOT / "reconciler" / "version.py"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        assert served.run("drift").returncode == 0
        assert len(served.traced()) == 1  # ran in its own process
        end = time.monotonic() + 10
        while Path(f"/proc/{old}").exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert not Path(f"/proc/{old}").exists()
        new = served.server_pid()
        assert new != old
        assert served.run("drift").returncode == 0
        assert len(served.traced()) == 2
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_an_idle_server_exits(served: Served, project: Project) -> None:
    _hello(project)
    env = {**served.env, "ACE_SERVER_IDLE": "1"}
    assert served.run("reconcile", env=env).returncode == 0
    pid = served.server_pid()
    end = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < end:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    assert served.sockets() == [] and list(served.runtime.glob("*.pid")) == []


def test_a_stopped_server_cleans_up(served: Served, project: Project) -> None:
    """`kill PID` (SIGTERM) ends the server and removes its socket and pid file; the next
    command runs in its own process and starts a new server."""
    _hello(project)
    assert served.run("reconcile").returncode == 0
    pid = served.server_pid()
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert served.sockets() == [] and list(served.runtime.glob("*.pid")) == []
    assert served.run("drift").returncode == 0
    assert served.server_pid() != pid


def test_no_server_under_ci_or_in_a_shared_directory(served: Served, project: Project) -> None:
    """CI set (and ACE_SERVER unset), ACE_SERVER=0, or a runtime dir others can enter: the
    command runs in its own process and starts no server."""
    _hello(project)
    ci = {**served.env, "CI": "true"}
    ci.pop("ACE_SERVER")
    assert served.run("reconcile", env=ci).returncode == 0
    assert served.run("drift", env={**served.env, "ACE_SERVER": "0"}).returncode == 0
    time.sleep(1)
    assert served.sockets() == []
    served.runtime.chmod(0o755)
    assert served.run("drift").returncode == 0
    time.sleep(1)
    assert served.sockets() == [] and served.traced() == []


def test_config_decides_the_server() -> None:
    """A client and a server share a socket only with the same interpreter set-up."""
    conf = client.config()
    other = (*conf[:-1], (("LANG", "C.UTF-8-other"),))
    assert client.socket_path("/d", conf) != client.socket_path("/d", other)
    assert client.socket_path("/d", conf) == client.socket_path("/d", client.config())
    assert client.enabled({"CI": "true"}) is False
    assert client.enabled({"CI": "true", "ACE_SERVER": "1"}) is True
    assert client.enabled({}) is True
    assert client.enabled({"ACE_SERVER": "0"}) is False
