"""Permissions for plugin calls (positional or keyword) and secret references in params."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.model import Permission
from apps.permissions import PluginCall, is_permitted, pattern_matches

from .helpers import assert_error, evaluate_files, only_app, only_error


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("auto", "auto", True),
        ("auto", "autox", False),
        ("regex:image:.*", "image:busybox", True),
        ("regex:image", "image:busybox", False),  # full match only
        ("regex:[", "x", False),  # a broken regex matches nothing
        ("8080", 8080, True),
        ("true", True, True),
        ('["-l"]', ["-l"], True),
    ],
)
def test_pattern_matches(pattern: str, value: Any, expected: bool) -> None:
    assert pattern_matches(pattern, value) is expected


RUN: tuple[Any, ...] = ("ls", ["-l"], [], False, False, "", False, True, "")


@pytest.mark.parametrize(
    ("permissions", "call_args", "expected"),
    [
        ((), RUN, False),
        ((Permission("container.in", "run"),), RUN, True),
        ((Permission("container.in", "run", ("ls",)),), RUN, True),
        ((Permission("container.in", "run", ("cat",)),), RUN, False),
        ((Permission("container.in", "run", ("ls", '["-l"]')),), RUN, True),
        ((Permission("container.in", "run", ("ls", '["-a"]')),), RUN, False),
        ((Permission("container.in", "run", ("regex:l.",)),), RUN, True),
        ((Permission("container.in", "config"),), RUN, False),
        ((Permission("proxy.in", "run"),), RUN, False),
    ],
)
def test_is_permitted(
    permissions: tuple[Permission, ...], call_args: tuple[Any, ...], expected: bool
) -> None:
    call = PluginCall("container.in", "run", call_args, "/f", 1, 1)
    assert is_permitted(call, permissions) is expected


def test_default_rules() -> None:
    assert is_permitted(PluginCall("container.in", "config", ("anything",), "", 0, 0), ())
    assert is_permitted(PluginCall("proxy.in", "config", ("<CONTAINER_URL>",), "", 0, 0), ())
    assert not is_permitted(PluginCall("proxy.in", "config", ("http://x",), "", 0, 0), ())


PROXY_APP = """load("proxy.in", "proxy")
app = ace.app("p",
    routes=[ace.proxy("/", proxy.config({call}))],
    permissions=[{perms}])
"""


@pytest.mark.parametrize(
    ("call", "perms", "ok"),
    [
        ('"http://up:1"', 'ace.permission("proxy.in", "config", ["http://up:1"])', True),
        ('url="http://up:1"', 'ace.permission("proxy.in", "config", ["http://up:1"])', True),
        ('url="http://up:1"', 'ace.permission("proxy.in", "config", ["regex:http://up:.*"])',
         True),
        ('url="http://up:1"', 'ace.permission("proxy.in", "config")', True),
        ('url="http://evil"', 'ace.permission("proxy.in", "config", ["http://up:1"])', False),
        ('"http://up:1", strip_path="/x"',
         'ace.permission("proxy.in", "config", ["http://up:1", "/y"])', False),
        ('"http://up:1", strip_path="/x"',
         'ace.permission("proxy.in", "config", ["http://up:1", "/x"])', True),
        ('url="http://up:1"', "", False),
    ],
)
def test_keyword_arguments_are_checked_like_positional(
    tmp_path: Path, call: str, perms: str, ok: bool
) -> None:
    result = evaluate_files(tmp_path, {"app.star": PROXY_APP.format(call=call, perms=perms)})
    if ok:
        assert only_app(result).routes[0].url.startswith("http://up:1")
        return
    err = only_error(result)
    assert_error(err, message="app /a is not permitted to call proxy.config with arguments [",
                 file=tmp_path / "src" / "app.star", line=3, column=28)
    assert 'add ace.permission("proxy.in", "config", [' in err.message


SECRET_PARAMS = 'param("token")\nparam("plain", default="p")\n'
SECRET_APP = """load("container.in", "container")
app = ace.app("s",
    container=container.config("image:busybox", port=80),
    permissions=[ace.permission("container.in", "config", secrets={secrets})])
"""


def secret_result(tmp_path: Path, secrets: str, value: str, environ: dict[str, str]) -> Any:
    return evaluate_files(
        tmp_path,
        {"params.star": SECRET_PARAMS, "app.star": SECRET_APP.format(secrets=secrets)},
        f'app("/a", "src", params={{"token": {value!r}}})\n',
        environ=environ,
    )


@pytest.mark.parametrize(
    ("secrets", "value"),
    [
        ('[["TOKEN"]]', '{{secret "TOKEN"}}'),
        ('[["regex:TOK.*"]]', 'Bearer {{ secret "TOKEN" }}!'),
        ('[["regex:.*"]]', '{{secret "TOKEN"}}'),
    ],
)
def test_allowed_secret_resolves_into_env_only(tmp_path: Path, secrets: str, value: str) -> None:
    app = only_app(secret_result(tmp_path, secrets, value, {"TOKEN": "s3cret"}))
    assert app.container is not None
    assert dict(app.container.env)["token"] == value.replace('{{secret "TOKEN"}}', "s3cret") \
        .replace('{{ secret "TOKEN" }}', "s3cret")
    assert dict(app.params)["token"] == value  # the reference, never the secret, is shown


@pytest.mark.parametrize(
    ("secrets", "environ", "message"),
    [
        ("[]", {"TOKEN": "x"}, "param token: secret 'TOKEN' is not allowed for app /a; add "
         'secrets=[["TOKEN"]]'),
        ('[["OTHER"]]', {"TOKEN": "x"}, "secret 'TOKEN' is not allowed"),
        ('[["regex:.*"]]', {}, "the environment variable TOKEN, which is not set"),
    ],
)
def test_secret_errors(
    tmp_path: Path, secrets: str, environ: dict[str, str], message: str
) -> None:
    result = secret_result(tmp_path, secrets, '{{secret "TOKEN"}}', environ)
    assert_error(only_error(result), message=message, file=tmp_path / "apps.star", line=1,
                 column=1)


def test_secret_in_default_is_located_at_declaration(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {
            "params.star": 'x = 1\nparam("token", default="{{secret \\"K\\"}}")\n',
            "app.star": SECRET_APP.format(secrets="[]"),
        },
        environ={"K": "v"},
    )
    assert_error(only_error(result), message="secret 'K' is not allowed",
                 file=tmp_path / "src" / "params.star", line=2, column=1)


# OpenRun's python-streamlit spec files, unmodified (a cl_secret template volume, dev_settings).
STREAMLIT_APP = 'load("proxy.in", "proxy")\nload("container.in", "container")\n\napp = ace.app(param.app_name,\n              routes=[\n                  ace.proxy("/", proxy.config(container.URL, strip_app=False))\n              ],\n              container=container.config(\n                  container.AUTO, port=param.port, health="/_stcore/health",\n                  volumes=["cl_secret:./secrets.toml.tmpl:/app/.streamlit/secrets.toml"],\n                                         dev_settings={\n                                             "target": "builder",\n                                             "command": param.dev_command,\n                                             "dir": "/app",\n                                             "reload": param.dev_reload,\n                                             "env_files": ["requirements.txt", "pyproject.toml", "uv.lock"],\n                                             "additional_mounts": ["venv:/app/.venv", "uv-cache:/root/.cache/uv"],\n                                         }\n                                         ),\n              permissions=[\n                  ace.permission("proxy.in", "config", [container.URL]),\n                  ace.permission("container.in", "config", [container.AUTO], secrets=param.secrets)\n              ]\n       ) \n'  # noqa: E501
STREAMLIT_PARAMS = 'param("port", type=INT,\n      description="The port the Streamlit app is listening on (inside the container)", default=8501)\n\nparam("app_name", description="The name for the app", default="Streamlit App")\n\nparam("app_file", description="The file name of the streamlit app to run", default="streamlit_app.py")\n\nparam("secrets", description="The secrets which are allowed to be passed to the container", type=LIST, default=[["regex:.*"]])\n\nparam("dev_command",\n      description="The command used to start the app in dev mode, run with the app source mounted",\n      default="""export PATH=/app/.venv/bin:$PATH; if [ -f uv.lock ]; then uv sync --locked; elif [ -f requirements.txt ]; then [ -d .venv ] || uv venv .venv; uv pip install -q -r requirements.txt streamlit setuptools; fi; exec bash streamlit_cmd.sh""")\n\nparam("dev_reload",\n      description="What a source change does in dev mode: none (Streamlit\'s file watcher reruns the app on its own, the default), restart (restart container) or recreate",\n      default="none")\n'  # noqa: E501
TEMPLATE = 'key = "{{ secret "API_KEY" }}"\nfile = "{{ .params.app_file }}"\n'


def test_openrun_streamlit_spec_with_secret_template(tmp_path: Path) -> None:
    files = {"app.star": STREAMLIT_APP, "params.star": STREAMLIT_PARAMS,
             "Containerfile": "FROM python:3.12\nEXPOSE 8501\n", "secrets.toml.tmpl": TEMPLATE}
    result = evaluate_files(tmp_path, files, 'app("/st", "src", params={"app_file": "x.py"})\n',
                            environ={"API_KEY": "k123"})
    app = only_app(result)
    assert app.container is not None
    (volume,) = app.container.volumes
    assert (volume.kind, volume.target, volume.content) == (
        "secret", "/app/.streamlit/secrets.toml", 'key = "k123"\nfile = "x.py"\n')
    assert app.container.health == "/_stcore/health" and app.container.port == 8501
    assert str(tmp_path / "src" / "secrets.toml.tmpl") in app.files


def test_secret_in_template_needs_allow_list(tmp_path: Path) -> None:
    files = {"app.star": STREAMLIT_APP, "params.star": STREAMLIT_PARAMS,
             "Containerfile": "FROM python:3.12\nEXPOSE 8501\n", "secrets.toml.tmpl": TEMPLATE}
    result = evaluate_files(tmp_path, files, 'app("/st", "src", params={"secrets": []})\n',
                            environ={"API_KEY": "k123"})
    err = only_error(result)
    assert "secret 'API_KEY' is not allowed for app /st" in err.message
    assert (err.file, err.line, err.column) == (str(tmp_path / "src" / "app.star"), 8, 25)


def test_config_json_masks_secret_env(tmp_path: Path) -> None:
    """`ace config --json` shows a secret param's env value as *** and never the secret."""
    result = secret_result(tmp_path, '[["TOKEN"]]', 'Bearer {{secret "TOKEN"}}',
                           {"TOKEN": "s3cret"})
    doc = result.to_json()
    assert doc["apps"][0]["container"]["env"]["token"] == "***"
    assert doc["apps"][0]["container"]["env"]["plain"] == "p"
    assert "s3cret" not in json.dumps(doc)


@pytest.mark.parametrize(
    "template",
    ["{{ range .params.token }}{{ end }}", '{{ range (secret "KEY") }}{{ end }}'],
)
def test_template_error_masks_secret_values(tmp_path: Path, template: str) -> None:
    """A cl_secret template error that quotes a secret value (a secret param's, or one that
    `secret` returned) shows it as ***."""
    result = evaluate_files(
        tmp_path,
        {"params.star": SECRET_PARAMS, "t.tmpl": template,
         "app.star": SECRET_APP.format(secrets='[["TOKEN"], ["KEY"]]').replace(
             "port=80)", 'port=80, volumes=["cl_secret:./t.tmpl:/etc/t"])')},
        'app("/a", "src", params={"token": \'{{secret "TOKEN"}}\'})\n',
        environ={"TOKEN": "s3cret", "KEY": "k3y"},
    )
    err = only_error(result)
    assert "range can't iterate over ***" in err.message, err
    assert "s3cret" not in err.message and "k3y" not in err.message
