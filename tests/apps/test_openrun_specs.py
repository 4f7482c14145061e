"""Every app spec OpenRun publishes evaluates in ace unchanged, given only its required params:
the four ace ships (`spec=`) and copies of the others (tests/apps/openrun_specs/, see its
README). Each row states what the spec must come out as: container kind, port, health path,
lifetime, routes, dev settings, and for static specs the static settings with no container."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import apps
from apps.locate import known_specs
from apps.model import App

from .helpers import only_app, write_tree

FIXTURES = Path(__file__).parent / "openrun_specs"
BUILTIN = ("container", "image", "image-cmd", "proxy")
SHIPPED_STATIC = ("static", "static_single")  # built in too, and fixtures: they need a source
URL = "<CONTAINER_URL>"
VENV_MOUNTS = ["venv:/app/.venv", "uv-cache:/root/.cache/uv"]
PY_ENV_FILES = ["requirements.txt", "pyproject.toml", "uv.lock"]


@dataclass(frozen=True)
class Expect:
    """What one spec evaluates to. `kind` None: no container. `routes`: (path, url, strip_app,
    preserve_host). `dev`: the dev_settings keys checked (values decoded)."""

    params: dict[str, Any] = field(default_factory=dict)  # the required params, and only those
    kind: str | None = "build"
    port: int = 0
    health: str = "/"
    lifetime: str = "app"
    routes: tuple[tuple[str, str, bool, bool], ...] = (("/", URL, True, False),)
    dev: dict[str, Any] = field(default_factory=dict)
    redirect: bool = False
    static: tuple[bool, str, bool] = (False, "", False)  # static_only, index, single_file
    build_args: dict[str, str] = field(default_factory=dict)
    secret_files: tuple[str, ...] = ()  # targets of cl_secret volumes


def _builder(reload: str, env_files: list[str] | None = PY_ENV_FILES,
             mounts: list[str] | None = None) -> dict[str, Any]:
    dev: dict[str, Any] = {"target": "builder", "dir": "/app", "reload": reload,
                           "additional_mounts": VENV_MOUNTS if mounts is None else mounts}
    if env_files is not None:
        dev["env_files"] = env_files
    return dev


SPECS: dict[str, Expect] = {
    "container": Expect(port=8000, routes=(("/", URL, True, False),)),
    "image": Expect({"image": "nginx:alpine", "port": 80}, kind="image", port=80),
    "image-cmd": Expect({"image": "busybox"}, kind="image", lifetime="command", routes=()),
    "proxy": Expect({"url": "https://example.com"}, kind=None,
                    routes=(("/", "https://example.com", True, False),)),
    "go": Expect({"port": 8080}, port=8080, dev={
        "target": "builder", "dir": "/app", "reload": "restart", "command": "go run .",
        "additional_mounts": ["go-mod-cache:/go/pkg/mod", "go-build-cache:/root/.cache/go-build"],
    }),
    "java-spring-boot": Expect(port=8080, build_args={"JAVA_VERSION": "21"}, dev={
        "target": "deps", "dir": "/app", "reload": "restart", "env_files": ["pom.xml"],
        "additional_mounts": ["m2-cache:/root/.m2"]}),
    "js-hono": Expect(port=3000, redirect=True, dev={
        "target": "builder", "dir": "/app", "reload": "restart",
        "additional_mounts": ["node-modules:/app/node_modules", "npm-cache:/root/.npm"]}),
    "python-asgi": Expect(port=5000, dev=_builder("none")),
    "python-fasthtml": Expect(port=5000, dev=_builder("none")),
    "python-flask": Expect(port=5000, dev=_builder("none")),
    "python-gradio": Expect(port=7860, redirect=True, dev=_builder("restart", env_files=None)),
    "python-nicegui": Expect(port=8080, dev=_builder("none")),
    "python-reflex": Expect(port=8080, health="/ping",
                            build_args={"API_URL": "http://127.0.0.1:8000/python-reflex"}),
    "python-shiny": Expect(port=8000, redirect=True, routes=(("/", URL, True, True),)),
    "python-streamlit": Expect(port=8501, health="/_stcore/health",
                               routes=(("/", URL, False, False),), dev=_builder("none"),
                               secret_files=("/app/.streamlit/secrets.toml",)),
    "python-streamlit-poetry": Expect(
        port=8501, health="/_stcore/health", routes=(("/", URL, False, False),),
        dev={"dir": "/app", "reload": "none", "env_files": ["pyproject.toml", "poetry.lock"],
             "additional_mounts": ["poetry-cache:/root/.cache/pypoetry"]}),
    "python-wsgi": Expect(port=8000, dev=_builder("none")),
    "static": Expect(kind=None, routes=(), static=(True, "", False)),
    "static_disk": Expect(kind=None, routes=(), static=(True, "", False)),
    "static_single": Expect({"index": "index.html"}, kind=None, routes=(),
                            static=(True, "index.html", True)),
}
# The streamlit template uses Go's `range`; its rendering is checked on its own below.
RANGE_FREE_TEMPLATE = 'name = "{{ .params.app_name }}"\n'


def _source(name: str, tmp_path: Path) -> tuple[str, str]:
    """(source, spec) for the apps file: a built-in spec (the `container` spec gets an app of
    its own with a Containerfile), or the fixture directory as the app's source."""
    if name == "container":
        write_tree(tmp_path / "app", {"Containerfile": "FROM busybox\nEXPOSE 8000\n"})
        return str(tmp_path / "app"), name
    if name in BUILTIN:
        return "-", name
    if name == "python-streamlit":
        copy = tmp_path / name
        shutil.copytree(FIXTURES / name, copy)
        (copy / "secrets.toml.tmpl").write_text(RANGE_FREE_TEMPLATE)
        return str(copy), ""
    return str(FIXTURES / name), ""


def _evaluate(tmp_path: Path, path: str, source: str, spec: str,
              params: dict[str, Any], *, dev: bool = False) -> App:
    (tmp_path / "apps.star").write_text(
        f"app({path!r}, {source!r}, spec={spec!r}, params={json.dumps(params)})\n")
    result = apps.evaluate(tmp_path / "apps.star", environ={},
                           dev_apps=frozenset({path}) if dev else frozenset())
    assert result.warnings == (), result.warnings
    return only_app(result)


def test_every_openrun_spec_is_covered() -> None:
    """The table names exactly ace's built-in specs plus every fixture directory."""
    fixtures = {p.name for p in FIXTURES.iterdir() if (p / "app.star").is_file()}
    assert set(SPECS) == fixtures | set(BUILTIN)
    assert set(known_specs()) == set(BUILTIN) | set(SHIPPED_STATIC)
    assert len(SPECS) == 20


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_evaluates_with_required_params_only(tmp_path: Path, name: str) -> None:
    """The spec evaluates with only its required params and gives the expected app."""
    want = SPECS[name]
    app = _evaluate(tmp_path, "/" + name, *_source(name, tmp_path), want.params)
    routes = tuple((r.path, r.url, r.strip_app, r.preserve_host) for r in app.routes)
    assert routes == want.routes
    assert app.redirect_bare_path is want.redirect
    assert (app.static_only, app.index, app.single_file) == want.static
    c = app.container
    if want.kind is None:
        assert c is None
        return
    assert c is not None
    assert (c.kind, c.port, c.health, c.lifetime) == (want.kind, want.port, want.health,
                                                      want.lifetime)
    assert c.dev is None  # normal mode: no dev settings resolved
    if want.dev:
        dev_dir = tmp_path / "dev"
        dev_dir.mkdir()
        dev = _dev_settings(_evaluate(dev_dir, "/" + name, *_source(name, dev_dir),
                                      want.params, dev=True))
        assert {k: dev.get(k) for k in want.dev} == want.dev
        if "command" not in want.dev:
            assert dev["command"]  # each spec's dev command comes from its params.star default
    assert {k: v for k, v in c.build_args if k in want.build_args} == want.build_args
    assert tuple(v.target for v in c.volumes if v.kind == "secret") == want.secret_files


def _dev_settings(app: App) -> dict[str, Any]:
    """The app's resolved dev settings as the specs write them (mounts as "name:/target")."""
    assert app.container is not None and app.container.dev is not None, (
        app.container and app.container.dev_note)
    dev = app.container.dev.to_json()
    dev["additional_mounts"] = [f"{m['name']}:{m['target']}" for m in dev["additional_mounts"]]
    return dev


def test_spec_without_a_required_param_names_it(tmp_path: Path) -> None:
    """Leaving out a required param is an error naming it (the table gives the minimum)."""
    (tmp_path / "apps.star").write_text(f'app("/go", {str(FIXTURES / "go")!r})\n')
    result = apps.evaluate(tmp_path / "apps.star", environ={})
    assert [e.message for e in result.errors] == [
        "param port is a required param, a value has to be provided"]


def test_openrun_apply_file_params_work_unchanged(tmp_path: Path) -> None:
    """OpenRun's own example apply file passes params the specs do not declare (APP_MODULE,
    APP_ARGS) and numbers as strings: ace evaluates it, passes them to the container, warns."""
    go, fasthtml = FIXTURES / "go", FIXTURES / "python-fasthtml"
    (tmp_path / "apps.star").write_text(
        'limits = {"cpus": "1", "memory": "512m"}\n'
        f'app("/fasthtml", {str(fasthtml)!r}, params={{"APP_MODULE": "basic_ws:app"}},\n'
        '    container_opts=limits)\n'
        f'app("/misc/go_example", {str(go)!r}, git_branch="master",\n'
        '    params={"port": "8080", "APP_ARGS": "-addr 0.0.0.0:8080"}, container_opts=limits)\n')
    result = apps.evaluate(tmp_path / "apps.star", environ={})
    assert result.errors == ()
    fast, goapp = result.apps
    assert fast.container is not None and goapp.container is not None
    assert dict(fast.container.env)["APP_MODULE"] == "basic_ws:app"
    assert dict(goapp.container.env)["APP_ARGS"] == "-addr 0.0.0.0:8080"
    assert goapp.container.port == 8080 and goapp.container.cpus == 1.0
    assert [(w.app, w.line, w.message.split(":")[0]) for w in result.warnings] == [
        ("/misc/go_example", 4, "app keyword 'git_branch' is ignored by ace"),
        ("/fasthtml", 2, "param APP_MODULE is not declared in params.star (declared params"),
        ("/misc/go_example", 4, "param APP_ARGS is not declared in params.star (declared params"),
    ]


def test_python_streamlit_secrets_template_renders(tmp_path: Path) -> None:
    """The real streamlit template (Go `range` over .params) renders one `key="value"` line per
    param, sorted, secrets left out. Needs `range` in apps/secret_template.py."""
    app = _evaluate(tmp_path, "/st", str(FIXTURES / "python-streamlit"), "", {})
    assert app.container is not None
    (vol,) = [v for v in app.container.volumes if v.kind == "secret"]
    assert (vol.target, vol.read_only) == ("/app/.streamlit/secrets.toml", True)
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in app.params
              if k != "secrets"}
    assert vol.content == "".join(f'{k}="{params[k]}"\n' for k in sorted(params)) + "\n"


def test_container_spec_takes_openrun_dev_params(tmp_path: Path) -> None:
    """ace's `container` spec declares OpenRun's dev params: with dev_dir set they become the
    dev_settings, so apply files passing them get no undeclared-param warnings."""
    source, spec = _source("container", tmp_path)
    (Path(source) / "Containerfile").write_text(
        "FROM busybox AS builder\nWORKDIR /src\nFROM busybox\nEXPOSE 8000\n")
    app = _evaluate(tmp_path, "/c", source, spec, {
        "dev_dir": "/app", "dev_target": "builder", "dev_command": "make run", "dev_port": 9000,
        "dev_env_files": ["go.mod"], "dev_mounts": ["cache:/root/.cache"], "dev_reload": "none"})
    assert app.container is not None and app.container.dev is None
    dev = _dev_settings(_evaluate(tmp_path, "/c", source, spec, {
        "dev_dir": "/app", "dev_target": "builder", "dev_command": "make run", "dev_port": 9000,
        "dev_env_files": ["go.mod"], "dev_mounts": ["cache:/root/.cache"], "dev_reload": "none"},
        dev=True))
    assert {k: dev[k] for k in ("target", "command", "dir", "reload", "env_files",
                                "additional_mounts", "port")} == {
        "target": "builder", "command": "make run", "dir": "/app", "reload": "none",
        "env_files": ["go.mod"], "additional_mounts": ["cache:/root/.cache"], "port": 9000}


def test_static_and_proxy_specs_reconcile_to_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apps without a container (static specs, proxy) plan no step and reconcile cleanly; the
    static settings reach `ace config --json`."""
    from typer.testing import CliRunner

    from reconciler.cli import options
    from reconciler.cli.app import app as cli_app
    from tests.fakes import FakeEngine

    engine = FakeEngine()
    monkeypatch.setattr(options, "engine", lambda *a, **k: engine)
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        f'app("/s", {str(FIXTURES / "static")!r})\n'
        f'app("/one", {str(FIXTURES / "static_single")!r}, params={{"index": "a.html"}})\n'
        'app("/p", "-", spec="proxy", params={"url": "https://example.com"})\n')

    def ace(*args: str) -> Any:
        res = CliRunner().invoke(cli_app, [*args, "--json", "-f", str(apps_file)])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    for command in ("plan", "reconcile"):
        out = ace(command)
        assert (out["steps"], out["errors"], out["warnings"]) == ([], [], [])
    doc = {a["path"]: a for a in ace("config")["apps"]}
    assert [(doc[p]["container"], doc[p]["static_only"], doc[p]["index"], doc[p]["single_file"])
            for p in ("/s", "/one", "/p")] == [
        (None, True, "", False), (None, True, "a.html", True), (None, False, "", False)]
    assert engine.calls["list_containers"] > 0  # it looked, and made nothing:
    assert (engine.calls["run_container"], engine.calls["build"], engine.calls["pull"]) == (0, 0, 0)


def test_flask_and_streamlit_dev_settings_in_config_json(tmp_path: Path) -> None:
    """OpenRun's python-flask and python-streamlit specs, unmodified, with dev=True: `ace
    config --json` shows each one's resolved dev settings (target builder, dir /app, reload
    none, their env files and mounts) and no note."""
    from typer.testing import CliRunner

    from reconciler.cli.app import app as cli_app

    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        f'app("/flask", {str(FIXTURES / "python-flask")!r}, dev=True)\n'
        f'app("/st", {str(FIXTURES / "python-streamlit")!r}, dev=True)\n')
    res = CliRunner().invoke(cli_app, ["config", "--json", "-f", str(apps_file)])
    assert res.exit_code == 0, res.output
    docs = {a["path"]: a for a in json.loads(res.stdout)["apps"]}
    for path in ("/flask", "/st"):
        doc = docs[path]
        assert doc["dev"] is True
        dev, note = doc["container"]["dev"], doc["container"]["dev_note"]
        assert note == "" and dev is not None
        assert (dev["target"], dev["dir"], dev["reload"]) == ("builder", "/app", "none")
        assert dev["command"] and dev["env_files"] and dev["additional_mounts"]
