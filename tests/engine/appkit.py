"""Helpers for reconcile tests against the real engine: write apps, run ace, read what runs."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import docker
from typer.testing import CliRunner

from reconciler.cli.app import app as cli_app
from reconciler.core.types import LABEL_APP, LABEL_INSTALL
from reconciler.driver.podman import familiar
from tests.projectkit import WEB_CONTAINERFILE, ProjectFiles, checked

WEB_APP_STAR = """load("proxy.in", "proxy")
load("container.in", "container")

app = ace.app("Web",
    routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config(container.AUTO, health=param.health),
    permissions=[ace.permission("proxy.in", "config", [container.URL]),
                 ace.permission("container.in", "config", [container.AUTO])])
"""

HELLO_APP_STAR = """load("container.in", "container")
app = ace.app("Hello", container=container.config("image:busybox", port=8080,
    command=["sh", "-c",
             "mkdir -p /w && echo hello > /w/index.html && exec httpd -f -p 8080 -h /w"]))
"""

WEB_PARAMS = """param("health", default="/")
param("greeting", default="hello")
"""


@dataclass
class Project(ProjectFiles):
    """A temp project: apps.star plus app dirs, its state dir and installation id."""

    client: docker.DockerClient

    def web_app(self, name: str = "web", page: str = "v1") -> None:
        self.write(f"{name}/Containerfile", WEB_CONTAINERFILE)
        self.write(f"{name}/index.html", page + "\n")
        self.write(f"{name}/app.star", WEB_APP_STAR)
        self.write(f"{name}/params.star", WEB_PARAMS)
        self.hello_app()

    def hello_app(self) -> None:
        self.write("hello/app.star", HELLO_APP_STAR)

    def ace(self, *args: str, expect: int | None = 0) -> tuple[int, str]:
        """Run an ace command in-process; returns (exit code, stdout)."""
        res = CliRunner().invoke(cli_app, [*args, "-f", str(self.apps_file)])
        checked(res, args, expect)
        return res.exit_code, res.stdout

    def ace_json(self, *args: str, expect: int | None = 0) -> Any:
        return json.loads(self.ace(*args, "--json", expect=expect)[1])

    def cleanup(self) -> None:
        """Remove every container, image, volume and network of this project's installation."""
        label = {"label": f"{LABEL_INSTALL}={self.install}"}
        for c in self.containers():
            c.remove(force=True)
        for img in self.client.images.list(filters=label):
            self.client.images.remove(img.id, force=True)
        for v in self.client.volumes.list(filters=label):
            v.remove(force=True)
        for n in self.client.networks.list(filters=label):
            n.remove()

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Run ace in its own process (for kills and concurrency)."""
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args, "-f", str(self.apps_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def image_tags(self) -> list[str]:
        """Every local image tag, spelled as Docker spells it (Podman qualifies names)."""
        return [familiar(t) for i in self.client.images.list() for t in i.tags]

    def containers(self, app: str | None = None) -> list[Any]:
        """This installation's containers (of `app`); one removed while being read is left
        out (Podman answers 500 there, which the SDK's own list does not skip)."""
        filters = [f"{LABEL_INSTALL}={self.install}"]
        if app:
            filters.append(f"{LABEL_APP}={app}")
        found = []
        for row in self.client.api.containers(all=True, filters={"label": filters}):
            with contextlib.suppress(docker.errors.APIError):
                found.append(self.client.containers.get(row["Id"]))
        return found

    def url(self, app: str) -> str:
        rows = self.ace_json("status")["apps"]
        row = next(r for r in rows if r["path"] == app)
        assert row["url"], row
        return str(row["url"])

    def events(self, since: float) -> list[dict[str, Any]]:
        """Engine events on this installation's containers since `since` (unix seconds)."""
        until = time.time() + 0.5
        time.sleep(0.6)
        stream = self.client.events(since=int(since), until=int(until) + 1, decode=True,
                                    filters={"label": f"{LABEL_INSTALL}={self.install}"})
        return [e for e in stream if e.get("timeNano", 0) >= int(since * 1e9)]


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, http.client.HTTPException):  # refused, reset, or cut off mid-answer
        return 0, ""
