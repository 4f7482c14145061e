"""Two of a kind on one engine: a second installation (another state dir) about to start apps
another one already runs is warned; two proxies of one state dir both show in `ace status`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.app import app as cli_app
from reconciler.proxy.service import ProxyService
from tests.engine.appkit import Project

pytestmark = pytest.mark.engine

HELLO = 'app("/hello", "./hello")'


@pytest.fixture
def other_state(project: Project, tmp_path: Path) -> Iterator[str]:
    """A second state dir for the project's apps file; its containers go at the end."""
    other = str(tmp_path / "other-state")
    yield other
    project.ace("down", "--state-dir", other, expect=None)


def test_second_installation_starting_what_another_runs_is_warned(
        project: Project, other_state: str) -> None:
    """plan and reconcile from a second state dir warn, at the app(...) call, that another
    installation runs the app of this apps file (naming its container); the first
    installation is not warned, nor is another apps file declaring the same app path."""
    project.hello_app()
    project.apps(HELLO)
    project.ace("reconcile")
    (first,) = project.containers("/hello")
    plan = project.ace_json("plan", "--state-dir", other_state)
    assert [(s["action"], s["app"]) for s in plan["steps"]] == [("network", ""),
                                                                 ("start", "/hello")]
    (warning,) = plan["warnings"]
    assert (warning["app"], warning["file"], warning["line"], warning["column"]) == (
        "/hello", str(project.apps_file), 1, 1)
    assert warning["message"].startswith(
        "another ace installation (another state dir) already runs app /hello of this apps "
        f"file: container {first.name}; starting it here runs a second copy")
    done = project.ace_json("reconcile", "--state-dir", other_state)
    assert [s["outcome"] for s in done["steps"]] == ["done", "done"]  # its network, the start
    assert len(done["warnings"]) == 1
    assert project.ace_json("reconcile", "--state-dir", other_state)["warnings"] == []
    assert project.ace_json("plan")["warnings"] == []  # nothing to start: no extra listing
    project.write("copy/apps.star", 'app("/hello", "../hello")\n')
    res = CliRunner().invoke(cli_app, ["plan", "--json", "-f", str(project.root / "copy/apps.star"),
                                       "--state-dir", other_state + "-copy"])
    assert res.exit_code == 0 and json.loads(res.stdout)["warnings"] == []


def test_status_shows_every_live_proxy(project: Project) -> None:
    """Two proxies on one state dir: status lists both; one stopping leaves the other."""
    project.apps("")
    with ProxyService("127.0.0.1:0", state_dir=project.state_dir) as a:
        with ProxyService("127.0.0.1:0", state_dir=project.state_dir) as b:
            assert project.ace_json("status")["proxies"] == [a.base_url, b.base_url]
        assert project.ace_json("status")["proxies"] == [a.base_url]
    assert project.ace_json("status")["proxies"] == []
