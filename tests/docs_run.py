"""Run a docs page as a test: its marked blocks (tests/docs_markers.py), in order, in an empty
directory, against the real engine, checking the output the page shows.

The blocks are one shell session: each shell block runs with `bash -e` in the directory the
previous one ended in, with the variables it exported. `ace` on the PATH is this checkout's ace
(`sys.executable -m reconciler`). The pages' `127.0.0.1:8000` (ace's default proxy address) is
a free port of the run: it is replaced in every block, and `ace watch` / `ace serve` without
`--listen` get `--listen` with it, so runs in parallel never meet. Background blocks still
running at the end are stopped as Ctrl-C stops them, and whatever the run made is removed with
`ace down --images --volumes` (for every state dir it made), then by its installation label.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker

from state.db import derive_install_id
from tests.conftest import purge
from tests.docs_markers import Block, blocks, line_pattern

__all__ = ["PageCounts", "run_page"]

ROOT = Path(__file__).resolve().parent.parent
SETUP_DIR = ROOT / "tests" / "docs_setup"
DOCS_LISTEN = "127.0.0.1:8000"
_SHELL_TIMEOUT = 180.0
_READY_TIMEOUT = 120.0
_STOP_TIMEOUT = 30.0

_SESSION = r"""__docs_state="$1"; __docs_block="$2"; __docs_save="$3"
. "$__docs_state/env"
cd "$(cat "$__docs_state/cwd")"
__docs_keep() {
    __docs_rc=$?
    pwd -P > "$__docs_state/cwd"
    export -p > "$__docs_state/env"
    exit $__docs_rc
}
if [ -n "$__docs_save" ]; then trap __docs_keep EXIT; fi
. "$__docs_block"
"""

_SHIM = """#!/bin/bash
# this checkout's ace; watch and serve without --listen get the run's port for 127.0.0.1:8000
case "$1" in
    watch|serve)
        case " $* " in
            *" --listen"*|*" --no-proxy"*) ;;
            *) set -- "$1" --listen "{listen}" "${{@:2}}" ;;
        esac ;;
esac
exec "{python}" -m reconciler "$@"
"""

_ACTIVATE = 'PATH="{bin}:$PATH"; export PATH  # as a clone\'s .venv after scripts/examples.sh\n'


@dataclass(frozen=True)
class PageCounts:
    """How many of a page's blocks ran (file, shell, background, output and JSON checks) and
    how many are for readers only."""

    ran: int
    skipped: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Background:
    """A background block: its process group and its output file."""

    def __init__(self, block: Block, proc: subprocess.Popen[bytes], out: Path,
                 handle: IO[bytes]) -> None:
        self.block, self.proc, self.out, self.handle = block, proc, out, handle

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """The reader's Ctrl-C: SIGINT to the block's processes; killed if they linger."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(_STOP_TIMEOUT)
        self.handle.close()
        return self.proc.returncode


class _Session:
    """One page's shell session in `workdir`."""

    def __init__(self, page: Path, workdir: Path) -> None:
        self.page, self.workdir = page, workdir
        self.port = _free_port()
        self.state = workdir / ".docs-session"
        self.state.mkdir()
        (self.state / "env").write_text("")
        (self.state / "cwd").write_text(str(workdir.resolve()))
        (self.state / "session.sh").write_text(_SESSION)
        self.bin = self.state / "bin"
        self.bin.mkdir()
        shim = self.bin / "ace"
        shim.write_text(_SHIM.format(listen=f"127.0.0.1:{self.port}", python=sys.executable))
        shim.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
                    "COLUMNS": "200", "NO_COLOR": "1"}
        for name in ("ACE_FILE", "ACE_STATE_DIR", "ACE_BACKEND", "ACE_REGISTRY"):
            self.env.pop(name, None)
        self.output = ""
        self.last = 0
        self.background: list[_Background] = []

    def where(self, b: Block) -> str:
        return f"{self.page.name} line {b.line}"

    def ports(self, text: str) -> str:
        """The page's text with the run's port for ace's default proxy address."""
        return (text.replace(DOCS_LISTEN, f"127.0.0.1:{self.port}")
                .replace("localhost:8000", f"localhost:{self.port}"))

    def cwd(self) -> Path:
        return Path((self.state / "cwd").read_text().strip())

    def _script(self, b: Block, text: str) -> Path:
        script = self.state / f"block-{b.line}.sh"
        script.write_text(self.ports(text))
        return script

    def shell(self, b: Block, text: str, *, save: bool = True) -> subprocess.CompletedProcess[str]:
        args = ["bash", "-e", str(self.state / "session.sh"), str(self.state),
                str(self._script(b, text)), "save" if save else ""]
        try:
            return subprocess.run(args, env=self.env, capture_output=True, text=True,
                                  timeout=_SHELL_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{self.where(b)}: the block ran over {_SHELL_TIMEOUT:.0f} s "
                                 f"(long-running? mark it `background until ...`):\n"
                                 f"{e.stdout!r}\n{e.stderr!r}") from None

    def run_sh(self, b: Block) -> None:
        done = self.shell(b, b.text)
        self.output = done.stdout + done.stderr
        self.last = b.line
        assert done.returncode == b.exit_code, (
            f"{self.where(b)}: the block exited {done.returncode}, the page expects "
            f"{b.exit_code}:\n{self.output}")

    def setup(self, b: Block) -> None:
        if b.kind == "setup-sh":
            done = self.shell(b, b.text)
            assert done.returncode == 0, (f"{self.where(b)}: the set-up exited "
                                          f"{done.returncode}:\n{done.stdout}{done.stderr}")
            return
        target = self.cwd()
        if b.text == "examples":
            shutil.copytree(ROOT / "examples", target / "examples",
                            ignore=shutil.ignore_patterns(".ace", "__pycache__"))
            (target / ".venv" / "bin").mkdir(parents=True)
            (target / ".venv" / "bin" / "activate").write_text(_ACTIVATE.format(bin=self.bin))
            return
        source = SETUP_DIR / b.text
        assert source.is_dir(), f"{self.where(b)}: no set-up {b.text!r} in {SETUP_DIR}"
        shutil.copytree(source, target, dirs_exist_ok=True)

    def write_file(self, b: Block) -> None:
        target = self.cwd() / b.arg
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(b.text)

    def start(self, b: Block) -> None:
        out = self.state / f"background-{b.line}.out"
        handle = out.open("wb")
        args = ["bash", "-e", str(self.state / "session.sh"), str(self.state),
                str(self._script(b, b.text)), ""]
        proc = subprocess.Popen(args, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        bg = _Background(b, proc, out, handle)
        self.background.append(bg)
        self._wait_ready(bg, self.ports(b.arg))

    def _wait_ready(self, bg: _Background, until: str) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        pattern = None if until.startswith("http://") else line_pattern(until)
        while time.monotonic() < deadline:
            if pattern is None and _answers(until):
                return
            if pattern is not None and any(pattern.search(x) for x in bg.output().splitlines()):
                return
            assert bg.proc.poll() is None, (
                f"{self.where(bg.block)}: the background block exited {bg.proc.returncode} "
                f"before {until!r}:\n{bg.output()}")
            time.sleep(0.1)
        raise AssertionError(f"{self.where(bg.block)}: not ready ({until!r}) within "
                             f"{_READY_TIMEOUT:.0f} s:\n{bg.output()}")

    def ctrl_c(self, b: Block) -> None:
        running = [bg for bg in self.background if bg.proc.poll() is None]
        assert running, f"{self.where(b)}: ctrl-c, but no background block runs"
        bg = running[-1]
        self.background.remove(bg)
        code = bg.stop()
        self.output = bg.output()
        self.last = bg.block.line
        assert code == 0, (f"{self.where(b)}: the background block of line {bg.block.line} "
                           f"exited {code} on Ctrl-C:\n{self.output}")

    def check_output(self, b: Block) -> None:
        got = self.output.splitlines()
        for want in filter(str.strip, self.ports(b.text).splitlines()):
            assert any(line_pattern(want).search(g) for g in got), (
                f"{self.where(b)}: {want!r} is not in the output of the block at line "
                f"{self.last}:\n{self.output}")

    def close(self) -> None:
        for bg in self.background:
            bg.stop()
        self.background.clear()
        cleanup = Block("sh", "", 0)
        for state_dir in sorted(self.workdir.rglob(".ace")):
            apps = state_dir.parent / "apps.star"
            if apps.is_file():
                self.shell(cleanup, f'ace down --images --volumes -f "{apps}" '
                                    f'--state-dir "{state_dir}"\n', save=False)
            self._purge(derive_install_id(state_dir))

    def _purge(self, install: str) -> None:
        """The safety net after `ace down`: whatever still carries the run's installation label
        goes (nothing to do when the page's engine no longer answers)."""
        host = _exported(self.state / "env", "DOCKER_HOST") or os.environ.get("DOCKER_HOST")
        try:
            client = docker.DockerClient(base_url=host) if host else docker.from_env()
        except docker.errors.DockerException:
            return
        try:
            purge(client, install)
        finally:
            client.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as r:  # noqa: S310 (the page's own URL)
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _exported(env_file: Path, name: str) -> str | None:
    m = re.search(rf'^declare -x {name}="(.*)"$', env_file.read_text(), re.MULTILINE)
    return m.group(1) if m else None


def run_page(page: Path, workdir: Path) -> PageCounts:
    """Run the page's blocks in `workdir` (empty); fail naming the block that broke."""
    session = _Session(page, workdir)
    steps = blocks(page.read_text(encoding="utf-8"))
    actions = {"file": session.write_file, "sh": session.run_sh, "background": session.start,
               "output": session.check_output,
               "setup": session.setup, "setup-sh": session.setup, "ctrl-c": session.ctrl_c}
    try:
        for b in steps:
            if b.kind != "skip":
                actions[b.kind](b)
    finally:
        session.close()
    fenced = [b for b in steps if b.kind not in ("setup", "setup-sh", "ctrl-c")]
    skipped = sum(b.kind == "skip" for b in fenced)
    return PageCounts(len(fenced) - skipped, skipped)
