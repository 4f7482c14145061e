"""The change path stays light: a pass that starts or replaces a service talks to the engine
over plain HTTP, without loading the Docker SDK, and in as few calls as compose makes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.engine.appkit import Project, get

pytestmark = pytest.mark.engine

SVC_STAR = """load("container.in", "container")
app = ace.app("svc", container=container.config("image:busybox", port=8080,
    command=["sh", "-c", "mkdir -p /w && echo $N > /w/index.html && exec httpd -f -p 8080 -h /w"]))
"""
SVC = 'app("/svc", "./svc", params={{"N": "{}"}})'

CHANGE_PROBE = """
import sys
from reconciler.cli.app import main
calls = []
try:
    from reconciler.driver import wire
except ImportError:  # a driver without the plain-HTTP wire: the SDK answers
    pass
else:
    real_call = wire.Wire.call
    def spy(self, method, path, what, **kw):
        calls.append(method + " " + path.split("?")[0].split("/")[1])
        return real_call(self, method, path, what, **kw)
    wire.Wire.call = spy
sys.argv = ["ace", "reconcile", "-f", sys.argv[1]]
try:
    main()
except SystemExit as e:
    code = e.code
HEAVY = ("docker", "requests", "urllib3", "http.client", "multiprocessing", "apps.gotemplate",
         "rich", "uuid", "concurrent.futures")
print(code, sorted(m for m in HEAVY if m in sys.modules))
print(",".join(calls))
"""


def _reconcile_probe(project: Project) -> tuple[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", CHANGE_PROBE, str(project.apps_file)],
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()[-2:]  # after what ace printed
    assert len(lines) == 2, out.stdout + out.stderr
    return lines[0], lines[1].split(",")


def test_start_and_replace_never_load_the_sdk(project: Project) -> None:
    """Starting an app (with its network) loads neither the docker SDK nor requests; replacing
    it after a param change loads none of those nor http.client, multiprocessing, the template
    engine, uuid, a thread pool or (output piped) rich; the replace is one create, one start,
    the old container's network exit, stop and removal, and a few inspects."""
    project.write("svc/app.star", SVC_STAR)
    project.write("svc/params.star", 'param("N", default="0")\n')
    project.apps(SVC.format("one"))
    status, calls = _reconcile_probe(project)
    code, loaded = status.split(" ", 1)
    # a new state dir's schema is made with sqlmodel, which loads uuid and a thread pool
    assert code == "0" and not {"docker", "requests", "urllib3"} & set(eval(loaded)), status
    assert calls.count("POST networks") == 1 and calls.count("POST containers") == 2
    assert get(project.url("/svc")) == (200, "one\n")
    project.apps(SVC.format("two"))
    status, calls = _reconcile_probe(project)
    assert status == "0 []", calls
    changes = [c for c in calls if not c.startswith("GET")]
    assert changes == ["POST containers", "POST containers", "POST networks",
                       "POST containers", "DELETE containers"], calls
    assert len(calls) <= 12, calls
    assert len(project.containers("/svc")) == 1
    assert get(project.url("/svc")) == (200, "two\n")
