"""The dashboard in a real browser (headless Chromium) against `ace watch` on real apps: it lists
every app, an edit shows up live without a reload, an app's page streams what its container
prints, an action's form runs and shows its result, and a failed build shows its output."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.engine.appkit import WEB_CONTAINERFILE, Project
from tests.engine.browserkit import chromium, until
from tests.engine.watchkit import WatchProc

pytestmark = pytest.mark.engine

TICKER_APP_STAR = """load("container.in", "container")
app = ace.app("Ticker", container=container.config("image:busybox", port=8080,
    command=["sh", "-c", "mkdir -p /w && echo ok > /w/index.html && httpd -p 8080 -h /w && " +
             "while true; do echo tick-$(date +%s%N); sleep 0.5; done"]))
"""
APPS = ('app("/web", "./web")', 'app("/ticker", "./ticker")',
        'app("/cmd", "-", spec="image-cmd", params={"image": "busybox"})')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
            busybox: str) -> Iterator[tuple[Project, WatchProc, str]]:
    """One `ace watch` with its proxy on a free port, for the whole module."""
    project = Project(tmp_path_factory.mktemp("dash") / "proj", docker_client)
    project.root.mkdir()
    project.web_app()
    project.write("ticker/app.star", TICKER_APP_STAR)
    project.apps(*APPS)
    port = free_port()
    w = WatchProc(project.apps_file, "--resync", "1", "--health-timeout", "20", "--listen",
                  f"127.0.0.1:{port}")
    try:
        w.wait_served("/web", "v1\n", 90)
        w.wait_for(lambda e: e.get("event") == "status" and any(
            r["app"] == "/ticker" and r["state"] == "running" for r in e["apps"]), 60, "ticker")
        yield project, w, f"http://127.0.0.1:{port}"
    finally:
        w.stop()
        project.cleanup()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def cell(browser: Any, app: str, col: str) -> str:
    """A cell's text, read in one script call (the page re-renders rows as events come)."""
    return str(browser.execute_script(
        "const td = document.querySelector(`tr[data-app=\"${arguments[0]}\"] "
        "td[data-col=\"${arguments[1]}\"]`); return td ? td.innerText : '';", app, col))


def live(browser: Any) -> bool:
    from selenium.webdriver.common.by import By

    return "on" in (browser.find_element(By.ID, "live").get_attribute("class") or "")


def test_dashboard_lists_every_app(watched: tuple[Project, WatchProc, str], browser: Any
                                   ) -> None:
    """At / (no app there) and /_ace/: a row per app with its state, public and direct URLs
    and the action link; the event stream connects."""
    project, w, base = watched
    browser.get(base + "/")
    until(lambda: cell(browser, "/web", "State") == "running", 10, "the /web row",
          lambda: str(browser.page_source)[:3000])
    assert cell(browser, "/ticker", "State") == "running"
    assert cell(browser, "/cmd", "State") == "command"
    assert cell(browser, "/web", "Public URL") == base + "/web/"
    assert cell(browser, "/web", "Direct URL") == w.row("/web")["url"]
    assert cell(browser, "/cmd", "Actions") == "Run Command using busybox"
    until(lambda: live(browser), 10, "the event stream to connect")


def test_an_edit_shows_up_live_without_reload(watched: tuple[Project, WatchProc, str],
                                              browser: Any) -> None:
    """Editing a file rebuilds and replaces /web; its row's last change says so, pushed by the
    server into the same page (a marker set in the page survives)."""
    project, w, base = watched
    browser.get(base + "/_ace/")
    until(lambda: live(browser), 10, "the event stream to connect")
    browser.execute_script("window.aceMarker = 'still here';")
    project.write("web/index.html", "v2\n")
    until(lambda: "replace: build inputs changed: index.html" in
          cell(browser, "/web", "Last change"), 60, "the replace in the /web row",
          lambda: cell(browser, "/web", "Last change"))
    assert browser.execute_script("return window.aceMarker;") == "still here"
    w.wait_served("/web", "v2\n", 10)
    shot = os.environ.get("ACE_DASHBOARD_SCREENSHOT")  # how docs/dashboard.png is made
    if shot:
        browser.save_screenshot(shot)


def test_app_page_streams_the_containers_output(watched: tuple[Project, WatchProc, str],
                                                browser: Any) -> None:
    """The app's page shows lines its container prints while the page is open."""
    from selenium.webdriver.common.by import By

    _, _, base = watched
    browser.get(base + "/_ace/app?path=/ticker")

    def ticks() -> list[str]:
        text = str(browser.find_element(By.ID, "log").text)
        return [x for x in text.splitlines() if x.startswith("tick-")]

    first = until(ticks, 20, "a line of the ticker's output")
    until(lambda: [t for t in ticks() if t not in first], 10, "a new line printed later")
    assert cell(browser, "/ticker", "State") == "running"


def test_action_form_runs_and_shows_the_result(watched: tuple[Project, WatchProc, str],
                                               browser: Any) -> None:
    """The image-cmd spec's action page has a form from its params (hidden ones left out);
    Dry run and Run post it and show the action's result."""
    from selenium.webdriver.common.by import By

    _, _, base = watched
    browser.get(base + "/cmd")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Run Command using busybox"
    assert not browser.find_elements(By.NAME, "image")  # hidden by the action
    assert browser.find_element(By.NAME, "json").get_attribute("type") == "checkbox"
    command = browser.find_element(By.NAME, "command")
    command.clear()
    command.send_keys("echo hello-from-the-browser")
    browser.find_element(By.NAME, "_dry_run").click()
    until(lambda: browser.find_element(By.ID, "status").text.startswith("Would run"), 30,
          "the dry run's result")
    assert "echo hello-from-the-browser" in browser.find_element(By.ID, "status").text
    browser.find_element(By.NAME, "_run").click()
    until(lambda: browser.find_element(By.ID, "values").text == "hello-from-the-browser", 60,
          "the command's output", lambda: str(browser.page_source)[-2000:])
    assert browser.find_element(By.ID, "status").text == "Command output"


def test_failed_build_shows_its_output(watched: tuple[Project, WatchProc, str],
                                       browser: Any) -> None:
    """A RUN step that fails: the open app page turns build-failed live and shows the step,
    exit code and the step's output; the previous version keeps serving."""
    from selenium.webdriver.common.by import By

    project, w, base = watched
    browser.get(base + "/_ace/app?path=/web")
    until(lambda: live(browser), 10, "the event stream to connect")
    before = w.row("/web")["url"]
    project.write("web/Containerfile", WEB_CONTAINERFILE.replace(
        "EXPOSE", "RUN echo boom-in-the-build && exit 7\nEXPOSE"))
    until(lambda: cell(browser, "/web", "State") == "build-failed", 60, "build-failed")
    error = browser.find_element(By.ID, "error").text
    assert "exit code 7" in error and "boom-in-the-build" in error
    assert "Containerfile:3" in error
    assert w.row("/web")["url"] == before
    project.write("web/Containerfile", WEB_CONTAINERFILE)
    until(lambda: cell(browser, "/web", "State") == "running", 60, "the fix to clear it")
    assert not browser.find_element(By.ID, "error").is_displayed()

