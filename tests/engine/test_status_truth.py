"""`ace status` tells the truth while `ace watch` runs: the public URL of an app whose files do
not evaluate (its last good version still served), and a failed build no longer reported once
the app is back to what runs."""

from __future__ import annotations

import time

import pytest

from tests.engine.appkit import Project, get
from tests.engine.test_dev import DEV_CONTAINERFILE, dev_app, wait_body
from tests.engine.test_dev import start as start_dev
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


def test_a_failed_build_is_not_reported_once_what_runs_is_declared_again(
        project: Project, procs: list[WatchProc]) -> None:
    """Under `ace watch` a dev app's Containerfile gains `RUN false` (its build, caused by the
    changed container file, fails; the running version serves on), then the file is restored:
    `ace status` stops reporting the failed build (detail and last apply), nor does the watch
    table."""
    dev_app(project, "none")
    w, base = start_dev(project, procs)
    project.write("site/Containerfile", DEV_CONTAINERFILE.replace("WORKDIR /site\n",
                                                                  "WORKDIR /site\nRUN false\n"))
    w.wait_for(lambda e: e.get("event") == "build_failed", 60, "the failed build")
    builds = [e for e in w.named("step_started") if e.get("action") == "build"]
    assert builds[-1]["cause"] == "dev image inputs changed: Containerfile"
    row = {r["path"]: r for r in project.ace_json("status")["apps"]}["/site"]
    assert "RUN false" in row["detail"] and row["last_apply"]["outcome"] == "failed"
    seen = len(w.events)
    project.write("site/Containerfile", DEV_CONTAINERFILE)
    w.wait_for(lambda e: e.get("event") == "pass_started" and e.get("reason") == "files"
               and w.events.index(e) >= seen, 30, "the pass after the restore")
    end = time.monotonic() + 15
    while True:
        row = {r["path"]: r for r in project.ace_json("status")["apps"]}["/site"]
        if "failed" not in row["detail"] or time.monotonic() > end:
            break
        time.sleep(0.5)
    assert (row["state"], row["health"], row["detail"]) == ("running", "healthy", "")
    assert row["last_apply"] is None or row["last_apply"]["outcome"] != "failed"
    _, text = project.ace("status")
    assert "failed" not in text
    assert w.row("/site")["last_error"] == ""
    assert get(base) == (200, "v1\n")
