"""A Swarm cluster for the tests: scripts/swarm/cluster-up.sh N (nodes in network namespaces,
a local registry), its names chosen so that it never meets another cluster on this machine,
and what only a test does to it (kill a node's engine, stop the registry, commands by hand).

Starting it fails the test (never skips) when something is missing: scripts/test.sh installs
what it needs (scripts/swarm/ensure-tools.sh)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "swarm"


def _free_net() -> tuple[str, str]:
    """(first three octets, name prefix) of a /24 and namespace names no one uses here."""
    used = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for third in range(101, 200):
        net, pfx = f"10.213.{third}", f"at{third}"
        if f"{net}." not in used and f"{pfx}-" not in spaces:
            return net, pfx
    raise RuntimeError("no free 10.213.x.0/24 for a test cluster")


@dataclass
class Cluster:
    nodes: int
    base: Path
    net: str
    pfx: str

    @property
    def env(self) -> dict[str, str]:
        return {"SWARM_BASE": str(self.base), "SWARM_NET": self.net, "SWARM_PFX": self.pfx}

    @property
    def manager(self) -> str:
        return f"unix://{self.base}/n1.sock"

    @property
    def registry(self) -> str:
        return f"{self.net}.1:5000"

    def ace_env(self, registry: bool = True) -> dict[str, str]:
        """What ace needs to reconcile onto this cluster."""
        return {"DOCKER_HOST": self.manager, "ACE_BACKEND": "swarm",
                "ACE_REGISTRY": self.registry if registry else ""}

    @contextlib.contextmanager
    def client(self, k: int = 1) -> Iterator[docker.DockerClient]:
        """An SDK client of node k (1: the manager), closed afterwards."""
        c = docker.DockerClient(base_url=f"unix://{self.base}/n{k}.sock", timeout=60)
        try:
            yield c
        finally:
            c.close()

    def script(self, name: str, *args: str, timeout: float = 120) -> str:
        res = subprocess.run([str(SCRIPTS / name), *args], env={**os.environ, **self.env},
                             capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} failed ({res.returncode}):\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res.stdout

    def docker(self, *args: str) -> str:
        """The docker CLI against the manager (changes made by hand)."""
        res = subprocess.run(["docker", "-H", self.manager, *args], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout

    def kill_node(self, k: int) -> None:
        """SIGKILL node k's dockerd (its containers keep running, the cluster sees it down)."""
        pid = int((self.base / f"n{k}" / "docker.pid").read_text())
        os.kill(pid, signal.SIGKILL)

    def start_node(self, k: int) -> None:
        self.script("node-start.sh", str(k))

    def stop_registry(self) -> None:
        pid = int((self.base / "registry" / "pid").read_text())
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)

    def start_registry(self) -> None:
        self.script("registry-start.sh")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                import urllib.request

                urllib.request.urlopen(f"http://{self.registry}/v2/", timeout=1).close()
                return
            time.sleep(0.1)
        raise AssertionError("the registry did not come back")


@contextlib.contextmanager
def cluster_up(nodes: int, tmp: Path) -> Iterator[Cluster]:
    """Start a cluster of `nodes`; tear it down afterwards (whatever happened)."""
    net, pfx = _free_net()
    c = Cluster(nodes, tmp / "swarm", net, pfx)
    seed = os.environ.get("DOCKER_HOST", "") or "unix:///var/run/docker.sock"
    env = {**os.environ, **c.env, "SWARM_SEED": seed}
    try:
        res = subprocess.run([str(SCRIPTS / "cluster-up.sh"), str(nodes)], env=env,
                             capture_output=True, text=True, timeout=180)
        if res.returncode != 0:
            pytest.fail(f"the {nodes}-node test cluster did not start (run scripts/swarm/"
                        f"ensure-tools.sh as root; docker.io and docker-registry are needed):\n"
                        f"{res.stdout}\n{res.stderr}", pytrace=False)
        yield c
    finally:
        subprocess.run([str(SCRIPTS / "cluster-down.sh")], env=env, capture_output=True,
                       timeout=180)
