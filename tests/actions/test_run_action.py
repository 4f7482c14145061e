"""`ace run` logic against the in-memory engine: finding app/action/params, making the image
exist through a filtered plan, calling the action with a command runner, explaining `.value`."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import apps
from apps.errors import AceError, AppError, EngineError
from reconciler.actions.run import (
    command_network,
    ensure_image,
    find_app,
    parse_params,
    pick_action,
    run_action,
)
from reconciler.apply.pipeline import Settings, run_pass
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_MANAGED
from state import StateLock, Store
from tests.apply.kit import ServingFake
from tests.fakes import FakeEngine

CMD_APP = """
load("container.in", "container")

def run(dry_run, args):
    if dry_run:
        return ace.result("would run " + args.command)
    res = container.run("sh", ["-c", args.command], env=["WHO=" + args.who], cwd="/srv",
                        process_partial=args.partial)
    return ace.result("ran", res.value if args.partial or not res.error else [res.error_code])

def strict(dry_run, args):
    return ace.result("strict", container.run("sh", ["-c", args.command]).value)

def handled(dry_run, args):
    res = container.run("sh", ["-c", args.command])
    if res.error:
        return ace.result("handled", [res.error_code])
    return ace.result("fine", res.value)

app = ace.app("Cmd",
    actions=[ace.action("Run", "/run", run, description="Run it"),
             ace.action("Strict", "/strict", strict), ace.action("Handled", "/h", handled)],
    container=container.config("image:busybox", lifetime=container.COMMAND),
    permissions=[ace.permission("container.in", "run", ["sh"])])
"""
CMD_PARAMS = """
param("command", default="echo hi")
param("who", default="nobody")
param("count", type=INT, default=1)
param("partial", type=BOOLEAN, default=False)
"""
BUILT_APP = """
load("container.in", "container")
def run(dry_run, args):
    return ace.result("ok", container.run("echo", ["built"]).value)
app = ace.app("Built", actions=[ace.action("Go", "/", run)],
    container=container.config(container.AUTO, lifetime=container.COMMAND),
    permissions=[ace.permission("container.in", "run", ["echo"])])
"""
WEB_APP = """
load("container.in", "container")
app = ace.app("Web", container=container.config("image:busybox", port=8080,
    command=["httpd", "-f", "-p", "8080"]))
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
def project(tmp_path: Path) -> Settings:
    write(tmp_path, {
        "cmd/app.star": CMD_APP, "cmd/params.star": CMD_PARAMS,
        "built/app.star": BUILT_APP, "built/Containerfile": "FROM busybox\nCMD [\"sh\"]\n",
        "web/app.star": WEB_APP,
        "apps.star": 'app("/cmd", "./cmd", params={"who": "file"})\napp("/built", "./built")\n'
                     'app("/web", "./web")\napp("/broken", "./broken")\n',
        "broken/app.star": "oops(\n",
    })
    return Settings(apps_file=tmp_path / "apps.star", state_dir=tmp_path / ".ace")


def run(settings: Settings, engine: FakeEngine, action: str | None, *params: str,
        **kw: Any) -> Any:
    return run_action(settings, engine, "/cmd", action, params, **kw)


def test_find_app_errors(project: Settings) -> None:
    result = apps.evaluate(project.apps_file)
    assert find_app(result, "/cmd")[0].name == "Cmd"
    with pytest.raises(AceError, match=r"unknown app /nope \(apps: /cmd, /built, /web\)"):
        find_app(result, "/nope")
    with pytest.raises(AceError, match="app /broken has errors:\n  /broken: .*app.star:1:5: "
                                       "Parse error: '[(]' was never closed"):
        find_app(result, "/broken")


def test_pick_action_by_name_path_or_only_one(project: Settings) -> None:
    result = apps.evaluate(project.apps_file)
    cmd, built, web = (find_app(result, p)[0] for p in ("/cmd", "/built", "/web"))
    assert pick_action(cmd, "Strict").name == "Strict"
    assert pick_action(cmd, "/h").name == "Handled"
    assert pick_action(built, None).name == "Go"
    with pytest.raises(AceError, match="app /cmd has 3 actions: name one of 'Run', 'Strict'"):
        pick_action(cmd, None)
    with pytest.raises(AceError, match="app /cmd has no action 'Nope' \\(actions: 'Run', "):
        pick_action(cmd, "Nope")
    with pytest.raises(AceError, match="app /web has no actions"):
        pick_action(web, None)


def test_parse_params_types_and_errors(project: Settings) -> None:
    decls = find_app(apps.evaluate(project.apps_file), "/cmd")[1].decls
    assert parse_params(decls, ["count=3", "partial=true", "command=a=b c"], "/cmd") == {
        "count": 3, "partial": True, "command": "a=b c"}
    for bad, message in [("count=x", "--param count=x: param count is not an int"),
                         ("novalue", "--param 'novalue': expected NAME=VALUE"),
                         ("zzz=1", "--param zzz: app /cmd has no param 'zzz' (params: command,")]:
        with pytest.raises(AceError) as info:
            parse_params(decls, [bad], "/cmd")
        assert str(info.value).startswith(message)


def test_run_merges_defaults_file_values_and_overrides(project: Settings) -> None:
    engine = FakeEngine()
    done = run(project, engine, "Run", "command=echo $WHO; pwd")
    assert done.result["values"] == ["file", "/srv"]
    assert done.calls[0]["command"] == ["sh", "-c", "echo $WHO; pwd"]
    done = run(project, engine, "Run", "command=echo $WHO", "who=cli")
    assert done.result["values"] == ["cli"]
    assert run(project, engine, "Run", "command=x", dry_run=True).result["status"] == "would run x"


def test_failed_command_value_names_the_failure(project: Settings) -> None:
    engine = FakeEngine()
    with pytest.raises(AppError) as info:
        run(project, engine, "Strict", "command=echo oops >&2; exit 3")
    e = info.value
    assert e.message == "container.run failed: command `sh -c 'echo oops >&2; exit 3'` failed " \
                        "with exit code 3: oops"
    assert (Path(e.file).name, e.line) == ("app.star", 11)
    handled = run(project, engine, "Handled", "command=exit 4")
    assert handled.result["values"] == [4]
    partial = run(project, engine, "Run", "command=echo part; exit 5", "partial=true")
    assert partial.result["values"] == ["part"]


def test_ensure_image_applies_only_that_apps_image_steps(project: Settings) -> None:
    engine = FakeEngine()
    result = apps.evaluate(project.apps_file)
    with Store.open(project.state_dir) as store:
        target = ensure_image(project, store, engine, result, "/built")
        assert target.image.startswith(f"ace-{store.install_id}/built:")
        assert engine.calls["build"] == 1 and engine.calls["run_container"] == 0
        assert store.last_run() is not None and store.last_run().command == "run"  # type: ignore
        again = ensure_image(project, store, engine, result, "/built")
        assert again.image == target.image and engine.calls["build"] == 1
        with pytest.raises(AceError, match="app /broken has errors|declares no container"):
            ensure_image(project, store, engine, result, "/broken")
    assert not [c for c in engine.containers.values() if c.labels.get(LABEL_APP) == "/web"]


def test_build_failure_is_a_clear_error(project: Settings, tmp_path: Path) -> None:
    (tmp_path / "built" / "Containerfile").write_text("FROM busybox\nRUN exit 9\n")
    with pytest.raises(AceError, match="app /built: could not build its image .*: "):
        run_action(project, FakeEngine(), "/built", None)


def test_missing_image_with_pull_never(project: Settings) -> None:
    settings = Settings(apps_file=project.apps_file, state_dir=project.state_dir, pull="never")
    with pytest.raises(AceError, match="image busybox:latest is missing .*--pull never"):
        run(settings, FakeEngine(images=()), "Run")


def test_lock_is_free_while_the_action_runs(project: Settings) -> None:
    """The lock covers making the image only: a long action must not hold up `ace watch`."""
    seen: list[bool] = []

    class Probe(FakeEngine):
        def run_command(self, **kw: Any) -> Any:
            probe = StateLock(project.state_dir, command="probe")
            try:
                probe.acquire(0.0)
                seen.append(False)
                probe.release()
            except AceError:
                seen.append(True)
            return super().run_command(**kw)

    run(project, Probe(), "Run")
    assert seen == [False]
    with StateLock(project.state_dir, command="other").acquire(0.0), pytest.raises(
            AceError, match="lock"):
        run(project, FakeEngine(), "Run", lock_timeout=0.1)


API_APP = """
load("container.in", "container")
SERVE = "mkdir -p /www && echo the answer is 42 > /www/index.html && exec httpd -f -p 8080 -h /www"
app = ace.app("API", container=container.config("image:busybox", port=8080,
                                                command=["sh", "-c", SERVE]))
"""
ASK = "wget -q -O- http://api:8080/"


def test_commands_reach_the_apps_by_alias_on_the_app_network(project: Settings,
                                                             tmp_path: Path) -> None:
    """A container.run command joins the installation's app network: it reaches a running app
    at http://ALIAS:PORT/, as the apps reach each other."""
    write(tmp_path, {"api/app.star": API_APP})
    with project.apps_file.open("a") as f:
        f.write('app("/api", "./api")\n')
    engine = ServingFake()  # its containers answer the pass's health checks
    try:
        with Store.open(project.state_dir) as store:
            res = run_pass(project, store, engine)
            network = f"ace-{store.install_id}"
        assert [o.outcome for o in res.outcomes if o.step.app == "/api"] == ["done"]
        done = run(project, engine, "Handled", f"command={ASK}")
    finally:
        engine.close()
    assert (done.result["status"], done.result["values"]) == ("fine", ["the answer is 42"])
    assert engine.calls["ensure_network"] == 2, "the pass's, and run's (it exists: nothing new)"
    assert list(engine.networks) == ["bridge", network]


def test_commands_join_the_network_before_any_app_runs(project: Settings) -> None:
    """With no app running yet, `ace run` makes the app network as a pass would, so commands
    are on it all the same; an alias of an app not running does not resolve."""
    engine = FakeEngine()
    done = run(project, engine, "Handled", f"command={ASK}")
    assert done.result["status"] == "handled" and done.result["values"] == [1]
    with Store.open(project.state_dir) as store:
        network = f"ace-{store.install_id}"
    assert engine.networks[network].labels == {LABEL_MANAGED: "1",
                                               LABEL_INSTALL: store.install_id}


def test_a_foreign_network_of_that_name_fails_the_run(project: Settings) -> None:
    """A network named like the app network that ace did not make is refused, never used."""
    engine = FakeEngine()
    with Store.open(project.state_dir) as store:
        engine.add_foreign_network(f"ace-{store.install_id}")
    with pytest.raises(EngineError, match="not managed by ace"):
        run(project, engine, "Run")
    assert engine.calls["run_command"] == 0


def test_commands_on_a_cluster_join_no_network(project: Settings) -> None:
    """A cluster (--backend swarm) has no app network: commands run as they always did."""
    engine = FakeEngine()
    swarm = Settings(apps_file=project.apps_file, state_dir=project.state_dir, backend="swarm")
    assert command_network(swarm, engine, "abc") == ""
    assert command_network(project, engine, "abc") == "ace-abc"
    assert engine.calls["ensure_network"] == 1 and "ace-abc" in engine.networks
