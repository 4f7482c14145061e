"""A project for the swarm tests: apps written to a temp dir, ace run in-process against the
test cluster (its env), and reads of what runs there."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker.errors
from typer.testing import CliRunner

from reconciler.cli.app import app as cli_app
from reconciler.core.types import LABEL_INSTALL
from tests.projectkit import WEB_CONTAINERFILE, ProjectFiles, checked
from tests.swarm.cluster import Cluster

WEB_APP_STAR = """load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Web", routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config(container.AUTO),
    permissions=[ace.permission("proxy.in", "config", [container.URL]),
                 ace.permission("container.in", "config", [container.AUTO])])
"""
HELLO_APP_STAR = """load("container.in", "container")
app = ace.app("Hello", container=container.config("image:busybox", port=8080,
    command=["sh", "-c", "mkdir -p /w && echo $greeting > /w/index.html && " +
             "exec httpd -f -p 8080 -h /w"]))
"""
CMD_APP_STAR = """load("container.in", "container")
def run(dry_run, args):
    out = container.run("sh", ["-c", args.script], process_partial=True)
    return ace.result("ran", values=out.value, status=str(out.error_code))
app = ace.app("Cmd", container=container.config("image:busybox",
                                                lifetime=container.COMMAND),
    actions=[ace.action("go", "/", run)],
    permissions=[ace.permission("container.in", "run", ["sh"])])
"""
CMD_PARAMS = 'param("script", default="echo hi")\n'


@dataclass
class SwarmProject(ProjectFiles):
    """A temp project whose ace runs against the test cluster."""

    cluster: Cluster

    def web(self, page: str = "v1", name: str = "web") -> None:
        self.write(f"{name}/Containerfile", WEB_CONTAINERFILE)
        self.write(f"{name}/index.html", page + "\n")
        self.write(f"{name}/app.star", WEB_APP_STAR)

    def hello(self) -> None:
        self.write("hello/app.star", HELLO_APP_STAR)
        self.write("hello/params.star", 'param("greeting", default="hi")\n')

    def cmd(self) -> None:
        self.write("cmd/app.star", CMD_APP_STAR)
        self.write("cmd/params.star", CMD_PARAMS)

    def ace(self, *args: str, expect: int | None = 0, registry: bool = True) -> tuple[int, str]:
        """An ace command in-process against the cluster; returns (exit code, output)."""
        res = CliRunner().invoke(cli_app, [*args, "-f", str(self.apps_file)],
                                 env=self.cluster.ace_env(registry))
        checked(res, args, expect)
        return res.exit_code, res.output

    def ace_json(self, *args: str, expect: int | None = 0) -> Any:
        return json.loads(self.ace(*args, "--json", expect=expect)[1])

    def row(self, app: str) -> dict[str, Any]:
        return dict(next(r for r in self.ace_json("status")["apps"] if r["path"] == app))

    def services(self) -> list[dict[str, Any]]:
        with self.cluster.client() as c:
            return list(c.api.services(filters={"label": f"{LABEL_INSTALL}={self.install}"}))

    def purge(self) -> None:
        """Remove this project's services and secrets (whatever ace left)."""
        label = {"label": f"{LABEL_INSTALL}={self.install}"}
        with self.cluster.client() as c:
            for s in c.api.services(filters=label):
                c.api.remove_service(s["ID"])
            for s in c.api.secrets(filters=label):
                # in use by a task still being removed: the cluster goes with the module
                with contextlib.suppress(docker.errors.APIError):
                    c.api.remove_secret(s["ID"])


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.25)
