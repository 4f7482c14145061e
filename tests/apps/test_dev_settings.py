"""dev_settings: every key validated at the container.config call, OpenRun's inference from the
container file's stages in dev mode, and OpenRun's flask spec shape (dev_apps, caches and
`ace config`: test_dev_mode.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from apps.containerfile import parse_stages
from apps.model import ContainerConfig, DevSettings
from tests.apps.containerkit import make_app, resolve, resolve_error
from tests.apps.helpers import assert_error, evaluate_files, only_app, only_error

MULTI = """FROM python:3.12 AS base
WORKDIR /srv
CMD ["python", "serve.py"]

FROM base AS dev
RUN pip install watchdog
CMD python -m app --reload

FROM base
EXPOSE 8000
"""


def _dev(
    files: dict[str, str], tmp_path: Path, raw: dict[str, Any] | None = None
) -> ContainerConfig:
    return resolve(raw or {}, make_app(tmp_path, files), dev=True)


def _settings(text: str, tmp_path: Path, raw: dict[str, Any] | None = None) -> DevSettings:
    cfg = _dev({"Containerfile": text}, tmp_path, raw)
    assert cfg.dev is not None, cfg.dev_note
    assert cfg.dev_note == ""
    return cfg.dev


def _note(text: str, tmp_path: Path, raw: dict[str, Any] | None = None) -> str:
    cfg = _dev({"Containerfile": text}, tmp_path, raw)
    assert cfg.dev is None
    return cfg.dev_note


# --- validation: every key, located at the container.config call -------------------------

SERVICE = {"Containerfile": MULTI}
KEY_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("not a dict", {"dev_settings": ["target"]}, "dev_settings must be a dict, not list"),
    ("unknown key", {"dev_settings": {"watch": True}},
     "dev_settings key 'watch' is not supported; allowed keys: target, command, dir, reload, "
     "env_files, additional_mounts, port, dev_stage, disable"),
    ("target type", {"dev_settings": {"target": 3}}, "dev_settings target must be a string"),
    ("target syntax", {"dev_settings": {"target": "my stage"}},
     "dev_settings target 'my stage' is not a stage name"),
    ("target and dev_stage", {"dev_settings": {"target": "a", "dev_stage": "b"}},
     "gives target 'a' and dev_stage 'b'; dev_stage is another name for target: keep one"),
    ("dir relative", {"dev_settings": {"dir": "app"}},
     "dev_settings dir 'app' must be an absolute path in the container, like /app"),
    ("dir type", {"dev_settings": {"dir": ["/app"]}}, "dev_settings dir must be a string"),
    ("command type", {"dev_settings": {"command": 5}}, "dev_settings command must be a string"),
    ("command words", {"dev_settings": {"command": ["a", 1]}},
     "dev_settings command must be a string (run with sh -c)"),
    ("reload value", {"dev_settings": {"reload": "hot"}},
     "dev_settings reload 'hot' is not known; use one of: none, restart, recreate"),
    ("reload type", {"dev_settings": {"reload": True}}, "dev_settings reload must be a string"),
    ("env_files string", {"dev_settings": {"env_files": "requirements.txt"}},
     'dev_settings env_files must be a list, not str; write ["requirements.txt"]'),
    ("env_files absolute", {"dev_settings": {"env_files": ["/etc/passwd"]}},
     "dev_settings env_files entry '/etc/passwd' is an absolute path"),
    ("env_files escaping", {"dev_settings": {"env_files": ["deps/../../x.txt"]}},
     "dev_settings env_files entry 'deps/../../x.txt' points outside the app source"),
    ("env_files dot", {"dev_settings": {"env_files": ["./"]}},
     "env_files entry './' names the source directory itself"),
    ("env_files entry type", {"dev_settings": {"env_files": [1]}},
     "dev_settings env_files entry 1 must be a file name relative to the app source"),
    ("mounts type", {"dev_settings": {"additional_mounts": "venv:/v"}},
     "dev_settings additional_mounts must be a list, not str"),
    ("mount form", {"dev_settings": {"additional_mounts": ["venv"]}},
     "additional_mounts entry 'venv' must be NAME:/TARGET, like venv:/app/.venv"),
    ("mount name", {"dev_settings": {"additional_mounts": ["./cache:/c"]}},
     "'./cache' is not a valid volume name"),
    ("mount target", {"dev_settings": {"additional_mounts": ["venv:app/.venv"]}},
     "the target 'app/.venv' must be an absolute path in the container other than /"),
    ("mount root", {"dev_settings": {"additional_mounts": ["venv:/"]}},
     "must be an absolute path in the container other than /"),
    ("mount mode", {"dev_settings": {"additional_mounts": ["venv:/v:ro"]}},
     "the target '/v:ro' must be an absolute path"),
    ("mount twice", {"dev_settings": {"additional_mounts": ["a:/c", "b:/c/"]}},
     "additional_mounts mounts two volumes at /c; keep one"),
    ("port type", {"dev_settings": {"port": "8000"}}, "dev_settings port must be an int, not str"),
    ("port bool", {"dev_settings": {"port": True}}, "dev_settings port must be an int, not bool"),
    ("port range", {"dev_settings": {"port": 70000}}, "dev_settings port 70000 is out of range"),
    ("disable type", {"dev_settings": {"disable": "yes"}},
     "dev_settings disable must be True or False, not 'yes'"),
]


@pytest.mark.parametrize(("case", "raw", "message"), KEY_ERRORS, ids=[c[0] for c in KEY_ERRORS])
@pytest.mark.parametrize("dev", [True, False])
def test_key_errors_are_located(
    tmp_path: Path, case: str, raw: dict[str, Any], message: str, dev: bool
) -> None:
    """Each bad dev_settings value is an error at the container.config call, in either mode."""
    err = resolve_error(raw, make_app(tmp_path, SERVICE), dev=dev)
    assert message in err.message, err.message


def test_env_file_link_out_of_the_source_is_refused(tmp_path: Path) -> None:
    """An env file that is a symlink leading outside the source is refused."""
    (tmp_path / "outside.txt").write_text("x")
    src = make_app(tmp_path, SERVICE)
    os.symlink(tmp_path / "outside.txt", src / "deps.txt")
    err = resolve_error({"dev_settings": {"env_files": ["deps.txt"]}}, src, dev=True)
    assert "env_files entry 'deps.txt' is a link that leads outside the app source" in err.message


def test_error_names_the_app_star_line(tmp_path: Path) -> None:
    """Through a real app.star, the error carries the file, line and column of the call."""
    app_star = (
        'load("container.in", "container")\n'
        "app = ace.app(\"A\",\n"
        "    container=container.config(\n"
        '        port=8000, dev_settings={"env_files": ["../secrets.env"]}))\n'
    )
    result = evaluate_files(tmp_path, {"app.star": app_star, "Containerfile": MULTI},
                            'app("/a", "src", dev=True)\n')
    assert_error(only_error(result), message="env_files entry '../secrets.env' points outside",
                 file=tmp_path / "src" / "app.star", line=3, column=15)


def test_empty_values_count_as_not_given(tmp_path: Path) -> None:
    """"", [], 0 and None (how OpenRun's container spec passes unset params) mean "infer"."""
    raw = {"dev_settings": {"target": "", "dir": "", "command": "", "reload": "",
                            "env_files": [], "additional_mounts": [], "port": 0,
                            "dev_stage": None, "disable": None}}
    dev = _settings(MULTI, tmp_path, raw)
    assert (dev.target, dev.dir, dev.command) == ("dev", "/srv", "python -m app --reload")
    assert dev.inferred == ("target", "dir", "command", "reload", "port")


def test_values_are_normalised(tmp_path: Path) -> None:
    """dir and mount targets are normalised, env files de-duplicated, dev_stage names target."""
    dev = _settings(MULTI, tmp_path, {"dev_settings": {
        "dev_stage": "BASE", "dir": "/srv//app/", "reload": "recreate", "port": 5000,
        "env_files": ["./req.txt", "req.txt", "deps/uv.lock"],
        "additional_mounts": ["venv:/srv/.venv/", "uv-cache:/root/.cache/uv"],
        "command": ["sh", "-c", "exec run --reload"],
    }})
    assert dev == DevSettings(
        target="base", dir="/srv/app", command="sh -c 'exec run --reload'", reload="recreate",
        env_files=("req.txt", "deps/uv.lock"),
        additional_mounts=(("venv", "/srv/.venv"), ("uv-cache", "/root/.cache/uv")),
        port=5000, inferred=(),
    )


# --- inference from the container file's stages -------------------------------------------


def test_stage_named_dev_wins(tmp_path: Path) -> None:
    """A stage named dev is the target; dir is its inherited WORKDIR, command its shell CMD."""
    dev = _settings(MULTI, tmp_path)
    assert dev == DevSettings(
        target="dev", dir="/srv", command="python -m app --reload", reload="restart",
        port=8000, inferred=("target", "dir", "command", "reload", "port"),
    )


def test_penultimate_named_stage(tmp_path: Path) -> None:
    """Without a dev stage, a named penultimate stage is the target (exec CMD joined)."""
    text = ('FROM node:20 AS deps\nWORKDIR /app\nCMD ["npm", "run", "dev", "--", "--host"]\n'
            "FROM node:20-slim\nEXPOSE 3000\nCMD [\"node\", \"server.js\"]\n")
    dev = _settings(text, tmp_path)
    assert (dev.target, dev.dir, dev.command) == ("deps", "/app", "npm run dev -- --host")


def test_unnamed_penultimate_stage_gives_a_note(tmp_path: Path) -> None:
    """No dev stage and an unnamed penultimate stage: the app runs the normal way, with a note."""
    text = "FROM a\nWORKDIR /w\nFROM b\nEXPOSE 80\nCMD run\n"
    assert _note(text, tmp_path) == (
        "dev: no stage named 'dev' and the penultimate stage is not named; running the normal way"
    )


def test_single_stage_gives_a_note(tmp_path: Path) -> None:
    """A one-stage file has no dev stage to build."""
    assert _note("FROM a AS only\nEXPOSE 80\n", tmp_path) == (
        "dev: no stage named 'dev' and Containerfile has a single stage; running the normal way"
    )


def test_unknown_target_is_a_note_not_an_error(tmp_path: Path) -> None:
    """An explicit target that is no stage: dev is None, the note lists the stages."""
    text = "FROM a AS base\nWORKDIR /w\nFROM base AS final\nEXPOSE 80\nCMD run\n"
    cfg = _dev({"Containerfile": text}, tmp_path, {"dev_settings": {"target": "builder"}})
    assert cfg.dev is None and cfg.port == 80 and cfg.command == ()
    assert cfg.dev_note == (
        "dev: target 'builder' is not a stage of Containerfile (stages: base, final); running "
        "the normal way"
    )


def test_target_matches_case_insensitively(tmp_path: Path) -> None:
    """Stage names match regardless of case, as builders do; the stage's own spelling is kept."""
    text = "FROM a AS Builder\nWORKDIR /w\nCMD run\nFROM b\nEXPOSE 80\n"
    assert _settings(text, tmp_path, {"dev_settings": {"target": "builder"}}).target == "Builder"


def test_relative_workdir_joins(tmp_path: Path) -> None:
    """A relative WORKDIR joins the one before it (or / when none is known); quotes drop."""
    text = ("FROM a AS base\nWORKDIR srv\nFROM base AS dev\nWORKDIR app\nWORKDIR \"../code\"\n"
            "CMD run\nFROM base\nEXPOSE 80\n")
    assert _settings(text, tmp_path).dir == "/srv/code"


def test_workdir_not_found_gives_a_note(tmp_path: Path) -> None:
    """No WORKDIR in the dev stage or its parents: dir cannot be inferred."""
    text = "FROM a AS dev\nCMD run\nFROM b\nEXPOSE 80\n"
    assert _note(text, tmp_path) == (
        "dev: cannot infer dir: stage 'dev' of Containerfile sets no WORKDIR (nor does a stage "
        "it is built from); set dev_settings dir; running the normal way"
    )
    assert _settings(text, tmp_path, {"dev_settings": {"dir": "/x"}}).dir == "/x"


def test_entrypoint_and_cmd_join(tmp_path: Path) -> None:
    """Exec ENTRYPOINT + exec CMD are one quoted command line."""
    text = ('FROM a AS dev\nWORKDIR /w\nENTRYPOINT ["uv", "run"]\n'
            'CMD ["uvicorn", "main:app", "--reload", "--host", "0.0.0.0 "]\nFROM b\nEXPOSE 80\n')
    assert _settings(text, tmp_path).command == "uv run uvicorn main:app --reload --host '0.0.0.0 '"


def test_entrypoint_forms(tmp_path: Path) -> None:
    """Exec ENTRYPOINT + shell CMD passes CMD via /bin/sh -c; a shell ENTRYPOINT ignores CMD."""
    exec_shell = "FROM a AS dev\nWORKDIR /w\nENTRYPOINT [\"tini\", \"--\"]\nCMD run --x\n" \
                 "FROM b\nEXPOSE 80\n"
    assert _settings(exec_shell, tmp_path).command == "tini -- /bin/sh -c 'run --x'"
    shell = "FROM a AS dev\nWORKDIR /w\nENTRYPOINT exec serve\nCMD [\"ignored\"]\n" \
            "FROM b\nEXPOSE 80\n"
    assert _settings(shell, tmp_path).command == "exec serve"


def test_entrypoint_resets_an_inherited_cmd(tmp_path: Path) -> None:
    """A stage that sets ENTRYPOINT drops the CMD inherited from its parent stage."""
    text = ('FROM a AS base\nWORKDIR /w\nCMD ["old"]\nFROM base AS dev\nENTRYPOINT ["serve"]\n'
            "FROM base\nEXPOSE 80\n")
    assert _settings(text, tmp_path).command == "serve"


def test_final_stage_command_fallback(tmp_path: Path) -> None:
    """A dev stage without CMD/ENTRYPOINT runs the final stage's command."""
    text = "FROM a AS builder\nWORKDIR /app\nFROM b\nEXPOSE 80\nCMD [\"gunicorn\", \"app:app\"]\n"
    dev = _settings(text, tmp_path)
    assert (dev.target, dev.command) == ("builder", "gunicorn app:app")


def test_no_command_anywhere_gives_a_note(tmp_path: Path) -> None:
    """Neither the dev stage nor the final stage has a command: a note, unless one is given."""
    text = "FROM a AS builder\nWORKDIR /app\nFROM b\nEXPOSE 80\n"
    assert _note(text, tmp_path) == (
        "dev: cannot infer command: neither stage 'builder' nor the final stage of Containerfile "
        "has CMD or ENTRYPOINT; set dev_settings command; running the normal way"
    )
    assert _settings(text, tmp_path, {"dev_settings": {"command": "run"}}).command == "run"


def test_image_app_in_dev_mode_runs_normally(tmp_path: Path) -> None:
    """An image: app has no stage to build: dev None, a note, the image as usual."""
    cfg = resolve({"src": "image:nginx:alpine", "port": 80, "dev_settings": {"dir": "/app"}},
                  None, dev=True)
    assert (cfg.kind, cfg.image, cfg.dev) == ("image", "nginx:alpine", None)
    assert cfg.dev_note.startswith("dev: an image: app has no container file")
    assert cfg.dev_note.endswith("; running the normal way")


def test_disable_and_normal_mode(tmp_path: Path) -> None:
    """disable=True gives a note in dev mode; outside dev mode there is neither dev nor note."""
    assert _note(MULTI, tmp_path, {"dev_settings": {"disable": True}}) == (
        "dev: dev_settings disable=True; running the normal way")
    cfg = resolve({}, make_app(tmp_path, SERVICE), dev=False)
    assert (cfg.dev, cfg.dev_note) == (None, "")


def test_parse_stages_reads_flags_args_and_unnamed_stages() -> None:
    """FROM flags and unsubstituted build args parse; parents are found by name."""
    stages = parse_stages(
        "ARG IMG=python\nFROM --platform=$BUILDPLATFORM ${IMG} AS Build\nWORKDIR /b\n"
        "FROM build\nONBUILD CMD [\"no\"]\n"
    )
    assert [(s.name, s.base, s.parent, s.workdir) for s in stages] == [
        ("Build", "${IMG}", "", "/b"), ("", "build", "Build", "/b")]
    assert stages[1].cmd is None and stages[1].command_line() == ""


# --- OpenRun's python-flask spec shape -----------------------------------------------------

FLASK_APP = """load("proxy.in", "proxy")
load("container.in", "container")

app = ace.app(param.app_name,
              routes=[ace.proxy("/", proxy.config(container.URL))],
              container=container.config(container.AUTO, port=param.port,
                                         dev_settings={
                                             "target": "builder",
                                             "dir": "/app",
                                             "command": param.dev_command,
                                             "reload": param.dev_reload,
                                             "env_files": ["requirements.txt", "pyproject.toml", "uv.lock"],
                                             "additional_mounts": ["venv:/app/.venv", "uv-cache:/root/.cache/uv"],
                                         }),
              permissions=[
                  ace.permission("proxy.in", "config", [container.URL]),
                  ace.permission("container.in", "config", [container.AUTO]),
              ])
"""  # noqa: E501
FLASK_PARAMS = """param("port", type=INT, default=5000)
param("app_name", default="Flask App")
param("dev_command", default="uv sync --locked; exec python -m flask run --host 0.0.0.0 --port 5000 --reload")
param("dev_reload", default="none")
"""  # noqa: E501
FLASK_CONTAINERFILE = """FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim AS builder
WORKDIR /app
COPY pyproject.toml uv.lock* requirements.txt* /app/
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-install-project
COPY . /app

FROM python:3.12-slim-bookworm
COPY --from=builder /app /app
WORKDIR /app
EXPOSE 5000
CMD ["/app/.venv/bin/python", "-m", "flask", "run", "--host", "0.0.0.0"]
"""
FLASK_FILES = {"app.star": FLASK_APP, "params.star": FLASK_PARAMS,
               "Containerfile": FLASK_CONTAINERFILE, "requirements.txt": "flask\n"}
FLASK_DEV = DevSettings(
    target="builder",
    dir="/app",
    command="uv sync --locked; exec python -m flask run --host 0.0.0.0 --port 5000 --reload",
    reload="none",
    env_files=("requirements.txt", "pyproject.toml", "uv.lock"),
    additional_mounts=(("venv", "/app/.venv"), ("uv-cache", "/root/.cache/uv")),
    port=5000,
    inferred=("port",),
)


def test_openrun_flask_spec_in_dev_mode(tmp_path: Path) -> None:
    """The flask spec shape with dev=True resolves to exactly its dev settings, and to JSON."""
    result = evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src", dev=True)\n')
    app = only_app(result)
    assert app.container is not None and app.container.dev == FLASK_DEV
    assert app.container.dev_note == "" and app.container.command == ()
    doc = result.to_json()["apps"][0]
    assert doc["dev"] is True and doc["container"]["dev_note"] == ""
    assert doc["container"]["dev"] == {
        "target": "builder", "dir": "/app", "command": FLASK_DEV.command, "reload": "none",
        "env_files": ["requirements.txt", "pyproject.toml", "uv.lock"],
        "additional_mounts": [{"name": "venv", "target": "/app/.venv"},
                              {"name": "uv-cache", "target": "/root/.cache/uv"}],
        "port": 5000, "inferred": ["port"],
    }


def test_openrun_flask_spec_outside_dev_mode(tmp_path: Path) -> None:
    """The same spec without dev: no dev settings, no note, dev false in JSON."""
    result = evaluate_files(tmp_path, FLASK_FILES, 'app("/flask", "src")\n')
    app = only_app(result)
    assert app.container is not None and (app.container.dev, app.container.dev_note) == (None, "")
    doc = result.to_json()["apps"][0]
    assert doc["dev"] is False and doc["container"]["dev"] is None
