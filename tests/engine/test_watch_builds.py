"""`ace watch` against the real engine when a build fails: the build_failed event names the
failing step, its exit code and output, the app is build-failed (not crash-looping) while the
old version keeps serving, and the fixing save clears it on its pass."""

from __future__ import annotations

import pytest

from tests.engine.appkit import WEB_CONTAINERFILE, Project, get
from tests.engine.watchkit import WatchProc

pytestmark = pytest.mark.engine


def test_failed_build_is_shown_and_cleared_by_the_fix(project: Project,
                                                      procs: list[WatchProc]) -> None:
    """A RUN step exiting 7: build_failed with step, exit code 7 and the step's output; the
    row says build-failed and keeps the old URL, which still serves v1; a fixing save serves
    v2 and its pass's row is running with no error."""
    project.web_app()
    project.apps('app("/web", "./web")')
    w = WatchProc(project.apps_file, "--resync", "1", "--health-timeout", "10", "--no-proxy")
    procs.append(w)
    url = w.wait_served("/web", "v1\n", 60)
    broken = WEB_CONTAINERFILE.replace(
        "EXPOSE", "RUN echo compiling-the-thing && echo it-broke >&2 && exit 7\nEXPOSE")
    project.write("web/Containerfile", broken)
    ev = w.wait_for(lambda e: e.get("event") == "build_failed", 60, "build_failed")
    assert ev["app"] == "/web" and ev["exit_code"] == "7"
    assert ev["step"].endswith("RUN echo compiling-the-thing && echo it-broke >&2 && exit 7")
    assert "compiling-the-thing" in ev["output"] and "it-broke" in ev["output"]
    assert ev["file"].endswith("web/Containerfile") and ev["line"] == 3
    w.wait_for(lambda e: e.get("event") == "status" and any(
        r["app"] == "/web" and r["state"] == "build-failed" for r in e["apps"]), 10, "row")
    assert w.row("/web")["url"] == url and get(url) == (200, "v1\n")
    project.write("web/index.html", "v2\n")
    project.write("web/Containerfile", WEB_CONTAINERFILE)
    w.wait_served("/web", "v2\n", 60)
    row = w.wait_for(lambda e: e.get("event") == "status" and any(
        r["app"] == "/web" and r["state"] == "running" for r in e["apps"]), 10, "running row")
    assert [r["last_error"] for r in row["apps"] if r["app"] == "/web"] == [""]
    assert not w.named("crash_loop_backoff")
