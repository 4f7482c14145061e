"""ace's real `--json` and `--log-json` output, through the real CLI in its own process, matches
the JSON Schemas of docs/reference/schemas/ — in the states that exercise their optional parts:
a failed build and the step it skipped, an app that does not evaluate, a warning, a dev-mode
app, a static app, a command app and its action, drift, a stop and a start, logs of every
stream, and `ace watch`'s events with its proxy running."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.engine.appkit import Project
from tests.engine.test_dev import DEV_APP_STAR, DEV_CONTAINERFILE
from tests.engine.test_proxy import free_port
from tests.engine.watchkit import WatchProc
from tests.test_json_schemas import check

pytestmark = pytest.mark.engine

TALK_APP_STAR = """load("container.in", "container")
app = ace.app("Talk", container=container.config("image:busybox", port=8080,
    volumes=["/data"],
    command=["sh", "-c", "echo to-stdout; echo to-stderr >&2; mkdir -p /w && " +
             "echo talk > /w/index.html && exec httpd -f -p 8080 -h /w"]))
"""
CMD_APP_STAR = """load("container.in", "container")
def run(dry_run, args):
    out = container.run("echo", [args.word])
    return ace.result("said", out.value)
app = ace.app("Cmd", container=container.config("image:busybox", lifetime=container.COMMAND),
    actions=[ace.action("say", "/", run, description="Say a word")],
    permissions=[ace.permission("container.in", "run", ["echo"])])
"""
CMD_PARAMS = 'param("word", default="hi")\n'
BAD_BUILD = "FROM busybox\nRUN echo about to fail && exit 3\n"
BAD_APP_STAR = """load("container.in", "container")
app = ace.app("Bad", container=container.config(container.AUTO, port=8080),
    permissions=[ace.permission("container.in", "config", [container.AUTO])])
"""
APPS = [
    'app("/web", "./web")',
    'app("/talk", "./talk", params={"undeclared": "x"})',  # a warning
    'app("/cmd", "./cmd")',
    'app("/dev", "./dev", dev=True)',
    'app("/site", "./site", spec="static")',
    'app("/bad", "./bad")',
    'app("/broken", "./broken")',
]


def ace(project: Project, *args: str, expect: int) -> tuple[str, list[dict[str, Any]]]:
    """Run `ace ARGS -f APPS` in its own process; (stdout, the JSON lines of stderr)."""
    res = subprocess.run([sys.executable, "-m", "reconciler", *args, "-f",
                          str(project.apps_file)], capture_output=True, text=True, timeout=300)
    assert res.returncode == expect, (f"ace {' '.join(args)} -> {res.returncode}\n"
                                      f"{res.stdout}\n{res.stderr}")
    lines = [json.loads(x) for x in res.stderr.splitlines() if x.startswith("{")]
    return res.stdout, lines


def ace_json(project: Project, schema: str, *args: str, expect: int = 0) -> Any:
    """`ace ARGS --json`, checked against `schema`, parsed."""
    out, _ = ace(project, *args, "--json", expect=expect)
    doc = json.loads(out)
    check(schema, doc)
    return doc


def check_log_lines(lines: list[dict[str, Any]]) -> set[str]:
    """Every --log-json line matches its schema; returns the event names seen."""
    assert lines, "no --log-json lines"
    for line in lines:
        check("log-json", line)
    return {str(x["event"]) for x in lines}


def write_project(project: Project) -> None:
    project.web_app()
    project.write("talk/app.star", TALK_APP_STAR)
    project.write("cmd/app.star", CMD_APP_STAR)
    project.write("cmd/params.star", CMD_PARAMS)
    project.write("dev/Containerfile", DEV_CONTAINERFILE)
    project.write("dev/index.html", "dev\n")
    project.write("dev/app.star", DEV_APP_STAR.format(reload="none", extra=""))
    project.write("site/index.html", "static\n")
    project.write("bad/Containerfile", BAD_BUILD)
    project.write("bad/app.star", BAD_APP_STAR)
    project.write("broken/app.star", 'load("container.in", "container")\n'
                                     'app = ace.app("Broken", container=container.config(nope))\n')
    project.apps(*APPS)


def test_one_shot_commands_match_their_schemas(project: Project) -> None:
    """config, actions, plan, reconcile (dry run and applied), status, drift, stop, start, run,
    logs and down print what their schemas describe, optional parts included."""
    write_project(project)
    config = ace_json(project, "config", "config", expect=1)
    by_path = {a["path"]: a for a in config["apps"]}
    assert by_path["/dev"]["container"]["dev"] is not None
    assert by_path["/site"]["static"] is not None and by_path["/site"]["container"] is None
    assert by_path["/talk"]["container"]["volumes"], by_path["/talk"]
    assert [e["app"] for e in config["errors"]] == ["/broken"] and config["warnings"]

    actions = ace_json(project, "actions", "actions", expect=1)
    assert any(a["actions"] for a in actions["apps"])
    ace_json(project, "actions", "actions", "/cmd")

    plan = ace_json(project, "plan", "plan", expect=1)
    assert plan["steps"] and plan["warnings"]
    dry = ace_json(project, "reconcile", "reconcile", "--dry-run", expect=1)
    assert dry["dry_run"] and dry["steps"]

    out, logged = ace(project, "reconcile", "--json", "--log-json", expect=1)
    applied = json.loads(out)
    check("reconcile", applied)
    outcomes = {s["id"]: s["outcome"] for s in applied["steps"]}
    assert outcomes["build:/bad"] == "failed" and outcomes["start:/bad"] == "skipped", outcomes
    assert not applied["ok"] and any("url" in s for s in applied["steps"])
    assert {"app_error", "app_warning", "plan_computed", "step_done", "step_failed",
            "step_skipped", "pass_finished"} <= check_log_lines(logged)

    status = ace_json(project, "status", "status")
    states = {r["path"]: r["state"] for r in status["apps"]}
    assert states == {"/web": "running", "/talk": "running", "/cmd": "command",
                      "/dev": "running", "/site": "static", "/bad": "failed",
                      "/broken": "error"}, states
    rows = {r["path"]: r for r in status["apps"]}
    assert rows["/dev"]["mode"] == "dev" and rows["/bad"]["last_apply"]["outcome"] == "failed"

    for c in project.containers("/web"):
        c.stop(timeout=1)
    drift = ace_json(project, "drift", "drift", expect=1)  # /broken: sync is not checked
    whats = {(i["app"], i["what"]) for i in drift["items"]}
    assert {("/web", "container stopped"), ("/bad", "not applied yet")} <= whats, whats

    # stop and start report ok as their exit code does (another app's error is no failure)
    stopped = ace_json(project, "stop", "stop", "/talk")
    assert stopped["ok"] and stopped["stopped"] and stopped["errors"], stopped
    started = ace_json(project, "start", "start", "/talk")
    assert started["ok"] and not started["stopped"] and started["steps"], started

    ran = ace_json(project, "run", "run", "/cmd", "-p", "word=schema")
    assert ran["ok"] and ran["values"] == ["schema"] and ran["commands"], ran
    failed = ace_json(project, "run", "run", "/nope", expect=1)
    assert not failed["ok"] and failed["error"]

    out, _ = ace(project, "logs", "--json", "--tail", "-1", expect=0)
    lines = [json.loads(x) for x in out.splitlines()]
    for line in lines:
        check("logs", line)
    streams = {x["stream"] for x in lines}
    assert "build" in streams and streams & {"stdout", "output"}, streams

    _, logged = ace(project, "down", "--log-json", expect=0)
    assert "down_removed" in check_log_lines(logged)


def test_adoption_sync_and_watch_events_match_their_schemas(project: Project,
                                                            procs: list[WatchProc]) -> None:
    """A reconcile adopting what runs, drift in sync, status while a proxy serves the state
    dir, and `ace watch`'s events (a change applied, a failed build, an app that stops
    evaluating) match their schemas, with one pass_finished per pass."""
    project.web_app()
    project.apps('app("/web", "./web")', 'app("/hello", "./hello")')
    ace_json(project, "reconcile", "reconcile")
    shutil.rmtree(project.state_dir)  # the record lost: what runs is adopted, not replaced
    adopted = ace_json(project, "reconcile", "reconcile")
    assert sorted(adopted["adopted"]) == ["/hello", "/web"] and not adopted["steps"], adopted
    drift = ace_json(project, "drift", "drift")
    assert drift["in_sync"] and not drift["items"]

    port = free_port()
    w = WatchProc(project.apps_file, "--resync", "1", "--listen", f"127.0.0.1:{port}")
    procs.append(w)
    w.wait_for(lambda e: e.get("event") == "status", 60, "a status event")
    status = ace_json(project, "status", "status")
    public = {r["path"]: r["public_url"] for r in status["apps"]}
    assert status["proxies"] and public["/web"] and not public["/hello"], status  # no routes

    time.sleep(1.0)  # the file watcher (started after the first pass) settles
    project.write("web/index.html", "v2\n")
    w.wait_for(lambda e: e.get("event") == "step_done" and e.get("app") == "/web", 90,
               "/web replaced")
    project.write("web/Containerfile", BAD_BUILD)
    w.wait_for(lambda e: e.get("event") == "build_failed", 90, "a failed build")
    Path(project.root / "hello" / "app.star").write_text("app = ace.app(\n")
    w.wait_for(lambda e: e.get("event") == "app_error" and e.get("app") == "/hello", 60,
               "/hello's error")
    w.stop()
    assert {"watch_started", "pass_started", "files_changed", "step_done", "build_failed",
            "app_error", "status", "pass_finished", "watch_stopped"} <= check_log_lines(w.events)
    ends = Counter(e["cycle"] for e in w.events if e.get("event") == "pass_finished")
    assert set(ends.values()) == {1}, ends  # one pass_finished per pass
