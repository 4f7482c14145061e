"""ServingFake: the contract-checked FakeEngine, plus what executor tests need to watch it.

Each running container answers HTTP on its host port (a local server thread; the status comes
from `answers[name]`, 200 by default), so the executor's real health wait probes it. Every
engine call that changes something, every probe and every switch is logged, in order, in
`events` as (what, name). `gate` makes pulls wait until that many run at once (then all pass),
and `max_in_flight` is the most pulls seen at once.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from reconciler.core.types import ObservedContainer
from reconciler.driver.ports import VolumeMount
from tests.fakes import FakeEngine

__all__ = ["ServingFake", "context"]

HTTPD_CONTAINERFILE = 'FROM busybox:latest\nCMD ["httpd", "-f", "-p", "8080"]\n'


def context(root: Path, name: str, containerfile: str = HTTPD_CONTAINERFILE) -> str:
    """A build context directory holding `Containerfile`."""
    d = root / name
    d.mkdir(parents=True)
    (d / "Containerfile").write_text(containerfile)
    return str(d)


class ServingFake(FakeEngine):
    """FakeEngine whose running containers answer HTTP, with an ordered log of its calls."""

    def __init__(self, images: Sequence[str] = ("busybox:latest",)) -> None:
        super().__init__(images)
        self.events: list[tuple[str, str]] = []
        self.answers: dict[str, int] = {}
        self.gate = 0
        self.hold = 0.0  # seconds each pull takes
        self.in_flight = 0
        self.max_in_flight = 0
        self._opened = False
        self._cond = threading.Condition()
        self._engine = threading.RLock()  # the fake's own state is not thread-safe
        self._servers: dict[str, ThreadingHTTPServer] = {}

    def log(self, what: str, name: str) -> None:
        with self._cond:
            self.events.append((what, name))

    def close(self) -> None:
        for cid in list(self._servers):
            self._unserve(cid)

    # -- the calls the executor makes -----------------------------------------------------

    def build(self, *, context_dir: str, containerfile: str, tag: str,
              build_args: Mapping[str, str], labels: Mapping[str, str],
              on_log: Callable[[str], None] | None = None, target: str = "") -> str:
        self.log("build", tag)
        with self._engine:
            return super().build(context_dir=context_dir, containerfile=containerfile, tag=tag,
                                 build_args=build_args, labels=labels, on_log=on_log,
                                 target=target)

    def pull(self, ref: str) -> str:
        with self._cond:
            self.events.append(("pull", ref))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._opened or self.in_flight >= self.gate, timeout=5)
            self._opened = True
        try:
            time.sleep(self.hold)
            with self._engine:
                return super().pull(ref)
        finally:
            with self._cond:
                self.in_flight -= 1

    def run_container(self, *, name: str, image: str, port: int, command: Sequence[str],
                      env: Mapping[str, str], mounts: Sequence[VolumeMount],
                      labels: Mapping[str, str], cpus: float | None = None,
                      memory: int | None = None, entrypoint: Sequence[str] = (),
                      workdir: str = "", replicas: int = 1, network: str = "",
                      aliases: Sequence[str] = ()) -> ObservedContainer:
        self.log("run", name)
        with self._engine:
            c = super().run_container(name=name, image=image, port=port, command=command,
                                      env=env, mounts=mounts, labels=labels, cpus=cpus,
                                      memory=memory, entrypoint=entrypoint, workdir=workdir,
                                      replicas=replicas, network=network, aliases=aliases)
        return self._serve(c)

    def restart(self, container_id: str, *, timeout: float = 5.0) -> ObservedContainer:
        with self._engine:
            c = super().restart(container_id, timeout=timeout)
        self.log("restart", c.name)
        return self._serve(c)

    def start(self, container_id: str) -> ObservedContainer:
        with self._engine:
            c = super().start(container_id)
        self.log("start", c.name)
        return self._serve(c)

    def inspect(self, container_id: str) -> ObservedContainer | None:
        with self._engine:
            return super().inspect(container_id)

    def stop_and_remove(self, container_id: str, *, timeout: float = 5.0) -> None:
        with self._engine:
            c = super().inspect(container_id)
            self.log("stop", c.name if c is not None else container_id)
            super().stop_and_remove(container_id, timeout=timeout)
        if c is not None:
            self._unserve(c.id)

    # -- HTTP ---------------------------------------------------------------------------------

    def _serve(self, c: ObservedContainer) -> ObservedContainer:
        self._unserve(c.id)
        if c.state != "running":
            return c
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = fake.answers.get(c.name, 200)
                fake.log("probe", f"{c.name} {status}")
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()
        self._servers[c.id] = server
        port = server.server_address[1]
        with self._engine:
            self.containers[c.id].host_port = port
        return dataclasses.replace(c, host_port=port)

    def _unserve(self, container_id: str) -> None:
        server = self._servers.pop(container_id, None)
        if server is not None:
            server.shutdown()
            server.server_close()
