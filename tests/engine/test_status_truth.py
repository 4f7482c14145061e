"""`ace status` tells the truth while `ace watch` runs: the public URL of an app whose files do
not evaluate (its last good version still served), and a failed build no longer reported once
the app is back to what runs."""

from __future__ import annotations

import time

import pytest

from tests.engine.appkit import Project, get
from tests.engine.test_dev import wait_body
from tests.engine.test_proxy import free_port
from tests.engine.watchkit import WatchProc

pytestmark = pytest.mark.engine


def test_status_keeps_the_public_url_of_an_app_that_does_not_evaluate(
        project: Project, procs: list[WatchProc]) -> None:
    """With /web's app.star broken under `ace watch`, the proxy still serves its last good
    version, and `ace status` still shows its public URL (and the error)."""
    project.web_app(page="v1")
    project.apps('app("/web", "./web")', 'app("/hello", "./hello")')
    port = free_port()
    w = WatchProc(project.apps_file, "--resync", "1", "--health-timeout", "20",
                  "--listen", f"127.0.0.1:{port}")
    procs.append(w)
    base = f"http://127.0.0.1:{port}"
    wait_body(base + "/web/", "v1\n", 90)
    time.sleep(1.0)  # the file watcher (started after the first pass) settles
    project.write("web/app.star", "x = undefined_name\n")
    w.wait_for(lambda e: e.get("event") == "app_error" and e.get("app") == "/web", 30,
               "the error of /web")
    assert get(base + "/web/") == (200, "v1\n")
    doc = project.ace_json("status")
    rows = {r["path"]: r for r in doc["apps"]}
    assert rows["/web"]["public_url"] == base + "/web/"
    assert rows["/web"]["error"] and rows["/web"]["state"] == "running"
    assert rows["/hello"]["public_url"] == ""  # no route: the proxy does not serve it
    _, text = project.ace("status")
    assert base + "/web/" in text
