"""`ace run` / `ace actions` against the real engine: the examples' command app, the OpenRun
image-cmd spec unmodified, denied calls, failures, env/cwd, timeouts, builds, concurrency."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from reconciler.actions.runner import LABEL_COMMAND
from reconciler.cli.app import app as cli_app
from state.db import derive_install_id
from tests.conftest import purge
from tests.engine.appkit import Project

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps.star"

TOOLS_APP = """load("container.in", "container")

def env(dry_run, args):
    out = container.run("env", env=["EXTRA=from call", "GREETING=overridden"],
                        cwd="/etc").value
    pwd = container.run("pwd", cwd="/etc").value
    return ace.result("env", sorted([l for l in out if l.split("=")[0] in
                                     ("EXTRA", "GREETING", "CL_APP_PATH")]) + pwd)

def partial(dry_run, args):
    res = container.run("sh", ["-c", "echo got this; echo broke >&2; exit 3"],
                        process_partial=True)
    return ace.result("partial", [{"value": res.value, "code": res.error_code,
                                   "error": res.error}])

def strict(dry_run, args):
    return ace.result("strict", container.run("sh", ["-c", "echo x; exit 3"]).value)

def checked(dry_run, args):
    res = container.run("sh", ["-c", "exit 5"])
    return ace.result("checked", [res.error_code, res.error])

def lines(dry_run, args):
    return ace.result("lines", container.run("sh", ["-c", args.script],
                                             parse="jsonlines").value)

def denied(dry_run, args):
    return ace.result("no", container.run("rm", ["-rf", "/tmp"]).value)

app = ace.app("Tools",
    actions=[ace.action("Env", "/env", env, description="Show env and cwd"),
             ace.action("Partial", "/partial", partial), ace.action("Strict", "/strict", strict),
             ace.action("Checked", "/checked", checked), ace.action("Lines", "/lines", lines),
             ace.action("Denied", "/denied", denied)],
    container=container.config("image:busybox", lifetime=container.COMMAND),
    permissions=[ace.permission("container.in", "run", ["env"]),
                 ace.permission("container.in", "run", ["pwd"]),
                 ace.permission("container.in", "run", ["sh"])])
"""
TOOLS_PARAMS = 'param("greeting", default="hi")\nparam("script", default="echo {}")\n'

SERVICE_CONTAINERFILE = """FROM busybox
COPY index.html /www/index.html
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
SERVICE_APP = """load("container.in", "container")

def show(dry_run, args):
    return ace.result("page", container.run("cat", ["/www/index.html"]).value)

app = ace.app("Svc", actions=[ace.action("Show", "/show", show)],
    container=container.config(container.AUTO),
    permissions=[ace.permission("container.in", "config", [container.AUTO]),
                 ace.permission("container.in", "run", ["cat"])])
"""


@pytest.fixture
def project(tmp_path: Path, docker_client: docker.DockerClient, busybox: str
            ) -> Iterator[Project]:
    p = Project(tmp_path, docker_client)
    p.write("tools/app.star", TOOLS_APP)
    p.write("tools/params.star", TOOLS_PARAMS)
    p.apps('app("/tools", "./tools", params={"greeting": "hello"})',
           'app("/ic", "-", spec="image-cmd", params={"image": "busybox"})')
    yield p
    p.cleanup()


def ace(project: Project, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli_app, [*args, "-f", str(project.apps_file)])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def run_ok(project: Project, *args: str) -> list[str]:
    code, out, err = ace(project, "run", *args)
    assert code == 0, f"exit {code}\n{out}\n{err}"
    return out.splitlines()


def created(project: Project, since: float) -> list[dict[str, object]]:
    return [e for e in project.events(since)
            if e.get("Type") == "container" and e.get("Action") == "create"]


def test_examples_cmd_lists_a_directory(tmp_path: Path, docker_client: docker.DockerClient,
                                        busybox: str) -> None:
    """The issue's done-when: `ace run -f examples/apps.star /cmd --param command="ls -l /"`."""
    state = tmp_path / "state"
    try:
        res = CliRunner().invoke(cli_app, ["run", "-f", str(EXAMPLES), "--state-dir", str(state),
                                           "/cmd", "--param", "command=ls -l /"])
        assert res.exit_code == 0, res.output
        lines = res.stdout.splitlines()
        assert lines[0] == "Command output"
        assert lines[1].startswith("total ")
        assert {ln.split()[-1] for ln in lines[2:]} >= {"bin", "etc", "proc", "sys"}
        res = CliRunner().invoke(cli_app, ["run", "-f", str(EXAMPLES), "--state-dir", str(state),
                                           "/cmd", "-p", "command=echo hi", "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["values"] == ["hi"] and doc["status"] == "Command output"
        assert doc["commands"][0]["command"] == ["echo", "hi"] and doc["image"] == busybox
    finally:
        install = derive_install_id(state)
        purge(docker_client, install)  # its containers, and the network `ace run` made
    assert docker_client.containers.list(all=True, filters={
        "label": f"dev.ace.install={install}"}) == []


def test_image_cmd_spec_unmodified_echo_ls_and_json(project: Project) -> None:
    since = time.time()
    assert run_ok(project, "/ic", "-p", "command=echo hi there") == ["Command output",
                                                                      "hi there"]
    assert run_ok(project, "/ic", "-p", "command=ls /")[1:5] == ["bin", "dev", "etc", "proc"]
    doc = project.ace_json("run", "/ic", "-p", 'command=echo {"a":[1,2],"b":"x"}',
                           "-p", "json=true")
    assert doc["values"] == {"a": [1, 2], "b": "x"}
    dry = run_ok(project, "/ic", "Run Command using busybox", "--dry-run", "-p", "command=ls")
    assert dry == ["Would run ls"]
    # every command (not the dry run) ran in its own labelled container, all removed again
    events = project.events(since)
    creates = [e for e in events if e.get("Action") == "create"]
    assert len(creates) == 3
    assert all(e["Actor"]["Attributes"][LABEL_COMMAND] == "1" and
               e["Actor"]["Attributes"]["dev.ace.app"] == "/ic" for e in creates)
    assert project.containers() == []


def test_image_cmd_bad_json_names_the_problem(project: Project) -> None:
    code, out, err = ace(project, "run", "/ic", "-p", "command=echo hi", "-p", "json=true")
    assert code == 1
    assert "container.run failed: output of `echo hi` is not valid JSON" in err
    assert "ic" in err and "app.star" in err


def test_env_and_cwd_are_honoured(project: Project) -> None:
    assert run_ok(project, "/tools", "Env") == [
        "env", "CL_APP_PATH=/tools", "EXTRA=from call", "GREETING=overridden", "/etc"]


def test_non_zero_exit_with_and_without_process_partial(project: Project) -> None:
    doc = project.ace_json("run", "/tools", "Partial")
    assert doc["values"] == [{"value": ["got this", "broke"], "code": 3,
                              "error": "command `sh -c 'echo got this; echo broke >&2; exit 3'` "
                                       "failed with exit code 3: broke"}]
    code, out, err = ace(project, "run", "/tools", "Strict")
    assert code == 1 and out == ""
    assert "app /tools:" in err and "app.star:17:" in err
    assert "container.run failed: command `sh -c 'echo x; exit 3'` failed with exit code 3" in err
    assert project.ace_json("run", "/tools", "Checked")["values"] == [
        5, "command `sh -c 'exit 5'` failed with exit code 5"]


def test_parse_jsonlines(project: Project) -> None:
    script = 'script=echo \'{"n": 1}\'; echo \'{"n": 2}\''
    assert project.ace_json("run", "/tools", "Lines", "-p", script)["values"] == [
        {"n": 1}, {"n": 2}]


def test_denied_call_runs_nothing(project: Project) -> None:
    since = time.time()
    code, out, err = ace(project, "run", "/tools", "Denied")
    assert code == 1
    assert "app /tools is not permitted to call container.run" in err
    assert 'ace.permission("container.in", "run", ["rm"])' in err
    assert created(project, since) == []


def test_command_not_found_and_timeout(project: Project) -> None:
    code, _, err = ace(project, "run", "/ic", "-p", "command=nosuchtool --x")
    assert code == 1 and "exit code 127: `nosuchtool` not found in image busybox:latest" in err
    t0 = time.monotonic()
    code, _, err = ace(project, "run", "/ic", "-p", "command=sleep 60", "--timeout", "1.5")
    took = time.monotonic() - t0
    assert code == 1 and "command `sleep 60` timed out after 1.5 s" in err
    assert took < 15, took
    assert project.containers() == []


def test_cli_errors(project: Project) -> None:
    cases = [
        (("/nope",), "unknown app /nope (apps: /tools, /ic)"),
        (("/tools",), "app /tools has 6 actions: name one of 'Env'"),
        (("/tools", "Nope"), "app /tools has no action 'Nope'"),
        (("/tools", "Env", "-p", "zz=1"), "--param zz: app /tools has no param 'zz'"),
        (("/ic", "-p", "json=perhaps"), "--param json=perhaps: param json is not a boolean"),
    ]
    for args, message in cases:
        code, out, err = ace(project, "run", *args)
        assert code == 1 and message in " ".join(err.split()), (args, err)
    code, out, _ = ace(project, "run", "/nope", "--json")
    assert code == 1 and '"ok": false' in out


def test_build_app_image_is_built_once_and_service_app_works(project: Project) -> None:
    project.write("svc/Containerfile", SERVICE_CONTAINERFILE)
    project.write("svc/index.html", "served page\n")
    project.write("svc/app.star", SERVICE_APP)
    project.apps('app("/svc", "./svc")')
    first = project.ace_json("run", "/svc")
    assert first["values"] == ["served page"] and first["image"].startswith(
        f"ace-{project.install}/svc:")
    since = time.time()
    again = project.ace_json("run", "/svc", "Show")
    assert again["values"] == ["served page"] and again["image"] == first["image"]
    assert [e for e in project.events(since) if e.get("Type") == "image"] == []
    # ace run only made the image: the service itself was not started
    assert project.containers("/svc") == []
    # a reconcile afterwards reuses the image ace run built, and the app network it made
    out = project.ace_json("reconcile")
    assert [(s["action"], s["app"]) for s in out["steps"]] == [("start", "/svc")]


def test_build_failure_is_a_clear_error(project: Project) -> None:
    project.write("svc/Containerfile",
                  "FROM busybox\nRUN echo broken-step && exit 3\nEXPOSE 8080\n")
    project.write("svc/app.star", SERVICE_APP)
    project.apps('app("/svc", "./svc")')
    code, out, err = ace(project, "run", "/svc")
    assert code == 1 and "app /svc: could not build its image" in err and "failed" in err


def test_reconcile_during_a_command_proceeds_and_leaves_it_alone(project: Project) -> None:
    """The state lock covers making the image only: a reconcile while a command runs does not
    wait for it, and neither stops nor removes the command's container."""
    proc = project.spawn("run", "/ic", "-p", "command=sleep 4")
    deadline = time.monotonic() + 20
    while not project.containers("/ic") and time.monotonic() < deadline:
        time.sleep(0.1)
    running = project.containers("/ic")
    assert running, "the command container never appeared"
    t0 = time.monotonic()
    project.ace("reconcile", "--lock-timeout", "30")
    waited = time.monotonic() - t0
    assert [c.id for c in project.containers("/ic")] == [c.id for c in running]
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["Command output"]
    assert waited < 3.0, waited


def test_actions_listing(project: Project) -> None:
    code, out, _ = ace(project, "actions")
    assert code == 0
    assert "Show env and cwd" in out and "Run Command using busybox" in out
    doc = project.ace_json("actions", "/ic")
    assert doc["apps"][0]["actions"] == [{"name": "Run Command using busybox", "path": "/",
                                          "description": "Run specified command in container"}]
    code, _, err = ace(project, "actions", "/nope")
    assert code == 1 and "unknown app /nope" in err


VOLUME_APP = """load("container.in", "container")

def put(dry_run, args):
    container.run("sh", ["-c", "echo " + args.word + " > /data/word"])
    return ace.result("put", ["ok"])

def get(dry_run, args):
    word = container.run("cat", ["/data/word"]).value
    conf = container.run("cat", ["/conf/settings.txt"]).value
    return ace.result("get", word + conf)

app = ace.app("Vol", actions=[ace.action("Put", "/put", put), ace.action("Get", "/get", get)],
    container=container.config("image:busybox", lifetime=container.COMMAND,
                               volumes=["/data", "./conf:/conf:ro"]),
    permissions=[ace.permission("container.in", "run", ["sh"]),
                 ace.permission("container.in", "run", ["cat"])])
"""


def test_commands_see_the_apps_volumes(project: Project) -> None:
    """Commands of an app get the app's mounts, as its service would: a named volume keeps
    what one command wrote for the next; a bind mount from the source dir is read-only."""
    project.write("vol/app.star", VOLUME_APP)
    project.write("vol/params.star", 'param("word", default="none")\n')
    project.write("vol/conf/settings.txt", "from the source dir\n")
    project.apps('app("/vol", "./vol")')
    assert run_ok(project, "/vol", "Put", "-p", "word=persisted") == ["put", "ok"]
    assert run_ok(project, "/vol", "Get") == ["get", "persisted", "from the source dir"]
    volumes = project.client.volumes.list(
        filters={"label": ["dev.ace.app=/vol", f"dev.ace.install={project.install}"]})
    assert len(volumes) == 1
    assert project.containers() == []


STREAM_APP = """load("container.in", "container")

def slow(dry_run, args):
    res = container.run("sh", ["-c", "echo first; sleep 3; echo second"], stream=True)
    return ace.result("slow", res.value)

app = ace.app("Slow", actions=[ace.action("Slow", "/slow", slow)],
    container=container.config("image:busybox", lifetime=container.COMMAND),
    permissions=[ace.permission("container.in", "run", ["sh"])])
"""


def test_stream_shows_output_while_the_command_runs(project: Project) -> None:
    """stream=True: each line is on stderr as the command prints it; the result still has all."""
    project.write("slow/app.star", STREAM_APP)
    project.apps('app("/slow", "./slow")')
    proc = project.spawn("run", "/slow")
    assert proc.stderr is not None
    seen = ""
    while "first" not in seen:
        line = proc.stderr.readline()
        assert line, f"stderr ended before the first line; exit {proc.wait()}"
        seen += line
    still_running = proc.poll() is None
    out, err = proc.communicate(timeout=60)
    assert still_running, "the first line arrived only after the command ended"
    assert proc.returncode == 0, err
    assert out.splitlines() == ["slow", "first", "second"]
    assert "second" in err


API_APP = """load("container.in", "container")
SERVE = "mkdir -p /www && echo the answer is 42 > /www/index.html && exec httpd -f -p 8080 -h /www"
app = ace.app("API", container=container.config("image:busybox", port=8080,
                                                command=["sh", "-c", SERVE]))
"""
ASK_APP = """load("container.in", "container")

def ask(dry_run, args):
    return ace.result("asked", container.run("wget", ["-q", "-O-", "http://api:8080/"]).value)

app = ace.app("Ask", actions=[ace.action("Ask", "/ask", ask)],
    container=container.config("image:busybox", lifetime=container.COMMAND),
    permissions=[ace.permission("container.in", "run", ["wget"])])
"""


def test_commands_reach_the_apps_by_alias(project: Project) -> None:
    """container.run commands join the app network: an action's `wget -q -O- http://api:8080/`
    shows the api's answer once it runs; before, the alias does not resolve."""
    project.write("api/app.star", API_APP)
    project.write("ask/app.star", ASK_APP)
    project.apps('app("/api", "./api")', 'app("/ask", "./ask")')
    code, out, err = ace(project, "run", "/ask")
    assert code != 0 and "bad address 'api:8080'" in out + err, (out, err)
    project.ace("reconcile")
    assert run_ok(project, "/ask") == ["asked", "the answer is 42"]
    assert [c.labels.get("dev.ace.app") for c in project.containers()] == ["/api"]
