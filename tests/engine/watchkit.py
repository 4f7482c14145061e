"""Helpers for `ace watch` engine tests: run watch in its own process with JSON events, wait for
events or for content to be served (every wait bounded), and a private second Docker engine."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.engine.appkit import get

Event = dict[str, Any]


class WatchProc:
    """`ace watch --log-json` in a subprocess; its stderr JSON lines collected as events."""

    def __init__(self, apps_file: Path, *args: str, env: dict[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "reconciler", "watch", "-f", str(apps_file), "--log-json",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})
        self.events: list[Event] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.raw.append(line)
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(line))
                self._cond.notify_all()

    def named(self, name: str) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e.get("event") == name]

    def wait_for(self, pred: Callable[[Event], bool], timeout: float, what: str) -> Event:
        end = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for e in self.events[seen:]:
                    if pred(e):
                        return e
                seen = len(self.events)
                left = end - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = "".join(self.raw[-30:])
                    raise AssertionError(f"timed out waiting for {what}; last output:\n{tail}")
                self._cond.wait(min(left, 0.2))

    def row(self, app: str) -> dict[str, str]:
        """The app's row in the latest status event."""
        for e in reversed(self.named("status")):
            for r in e["apps"]:
                if r["app"] == app:
                    return dict(r)
        return {}

    def wait_served(self, app: str, body: str, timeout: float) -> str:
        """Until the app's URL (from the latest status event) answers 200 with `body`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            url = self.row(app).get("url", "")
            if url and get(url, timeout=1.0) == (200, body):
                return url
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{app} never served {body!r}; row {self.row(app)}; output:\n"
                             + "".join(self.raw[-30:]))

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Signal and wait for exit; returns the seconds it took."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)
        return time.monotonic() - t0


class SecondEngine:
    """A private dockerd (own data root, exec root, socket, pidfile and bridge, no iptables),
    so a test can stop and start an engine without touching the shared one."""

    BRIDGE = "acewatch0"

    def __init__(self, root: Path, bridge: str = BRIDGE, bridge_cidr: str = "10.231.7.1/24",
                 args: tuple[str, ...] = ()) -> None:
        self.root = root
        self.bridge = bridge
        self.bridge_cidr = bridge_cidr
        self.args = args
        self.sock = root / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.pidfile = root / "dockerd.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def _sh(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(cmd, capture_output=True, check=check, timeout=60)

    def setup_bridge(self) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            self._sh("ip", "link", "add", self.bridge, "type", "bridge")
            self._sh("ip", "addr", "add", self.bridge_cidr, "dev", self.bridge)
        self._sh("ip", "link", "set", self.bridge, "up")

    def start(self, wait: float = 30.0) -> None:
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root",
             str(self.root / "exec"), "--pidfile", str(self.pidfile), "-H", self.host,
             f"--bridge={self.bridge}", "--iptables=false", "--ip-masq=false", *self.args],
            stdout=log, stderr=log, start_new_session=True)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self._sh("docker", "-H", self.host, "info", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        tail = (self.root / "dockerd.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"second dockerd did not start:\n{tail}", pytrace=False)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def seed(self, image: str) -> None:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, check=True,
                       capture_output=True, timeout=120)
        save.wait(timeout=60)

    def cleanup(self) -> None:
        """Remove what the engine made, stop it, and delete the host's bridge interfaces of
        its networks: a stopped dockerd leaves them, and each holds an address range that the
        main engine could then no longer give a network of its own."""
        bridges: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            ids = self._sh("docker", "-H", self.host, "ps", "-aq", check=False).stdout.split()
            if ids:
                self._sh("docker", "-H", self.host, "rm", "-f", *[i.decode() for i in ids],
                         check=False)
            nets = self._sh("docker", "-H", self.host, "network", "ls", "-q", "--filter",
                            "driver=bridge", check=False).stdout.decode().split()
            bridges = [f"br-{n[:12]}" for n in nets]
            self._sh("docker", "-H", self.host, "network", "prune", "-f", check=False)
        self.stop()
        for name in [self.bridge, *bridges]:
            if Path(f"/sys/class/net/{name}").exists():
                self._sh("ip", "link", "del", name, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
