"""resolve_container: volumes (named, bind, env expansion, escapes) and secret templates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from apps.container import files_read
from apps.containerfile import scan_containerfile
from apps.model import Volume
from apps.secret_template import TemplateError, render_template
from tests.apps.containerkit import SERVICE, make_app, resolve, resolve_error


def test_volume_instructions() -> None:
    """VOLUME in JSON or plain form, in every stage."""
    text = 'FROM a\nVOLUME ["/data", "/logs"]\nFROM b\nVOLUME /cache /tmp/x\n'
    assert scan_containerfile(text).volumes == ("/data", "/logs", "/cache", "/tmp/x")


def test_containerfile_volumes_become_app_volumes(tmp_path: Path) -> None:
    """VOLUME targets become app-scoped volumes; an explicit volume at the same target wins."""
    src = make_app(tmp_path, {"Containerfile": "FROM a\nEXPOSE 1\nVOLUME /data /cache\n"})
    cfg = resolve({"volumes": ["store:/data"]}, src)
    assert cfg.volumes == (Volume("volume", "store", "/data"), Volume("volume", "", "/cache"))


# --- volumes ------------------------------------------------------------------------------


def test_volume_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every volume form, from container.config and the apps file's container_vols."""
    allowed = tmp_path / "shared"
    (allowed / "models").mkdir(parents=True)
    monkeypatch.setenv(
        "ACE_ALLOWED_MOUNTS", os.pathsep.join([str(tmp_path / "none"), str(allowed)])
    )
    src = make_app(tmp_path, {**SERVICE, "static/i.html": ""})
    cfg = resolve(
        {"volumes": ["/data", "cache:/cache:ro", "./static:/www:ro", "./static/i.html:/i.html"]},
        src,
        container_vols=(f"{allowed}/models:/models", f"{src}/static:/abs:rw"),
    )
    assert cfg.volumes == (
        Volume("volume", "", "/data"),
        Volume("volume", "cache", "/cache", read_only=True),
        Volume("bind", str(src / "static"), "/www", read_only=True),
        Volume("bind", str(src / "static" / "i.html"), "/i.html"),
        Volume("bind", str(allowed / "models"), "/models"),
        Volume("bind", str(src / "static"), "/abs"),
    )


def test_volume_env_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$VAR in a bind source is expanded from the environment."""
    src = make_app(tmp_path, SERVICE)
    monkeypatch.setenv("APPDIR", str(src))
    cfg = resolve({"volumes": ["${APPDIR}/x:/x"]}, src)
    assert cfg.volumes == (Volume("bind", str(src / "x"), "/x"),)


def test_volume_symlink_escape(tmp_path: Path) -> None:
    """A ./ path that is a symlink leading out of the source is refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    src = make_app(tmp_path, SERVICE)
    (src / "link").symlink_to(outside)
    (src / "inner").symlink_to(src / "Containerfile")
    err = resolve_error({"volumes": ["./link:/x"]}, src)
    assert "resolves outside the app source" in err.message
    assert resolve({"volumes": ["./inner:/c"]}, src).volumes[0].source == str(src / "Containerfile")


def test_absolute_bind_symlink_into_allowed_is_refused(tmp_path: Path) -> None:
    """An absolute path under the source that links elsewhere is judged by its real location."""
    outside = tmp_path / "secret"
    outside.mkdir()
    src = make_app(tmp_path, SERVICE)
    (src / "link").symlink_to(outside)
    err = resolve_error({"volumes": [f"{src}/link:/x"]}, src)
    assert "ACE_ALLOWED_MOUNTS" in err.message


VOLUME_ERRORS = [
    ("dotdot", ["../x:/x"], "resolves outside the app source"),
    ("dotdot nested", ["./a/../../x:/x"], "resolves outside the app source"),
    ("absolute not allowed", ["/etc:/etc"], "add its directory to the ACE_ALLOWED_MOUNTS"),
    ("relative target", ["data"], "must be an absolute path in the container"),
    ("relative target 2", ["v:data"], "must be an absolute path in the container"),
    ("bad name", ["my vol:/x"], "is not a valid volume name"),
    ("bad name 2", ["-v:/x"], "is not a valid volume name"),
    ("empty", [""], "a volume must be a non-empty string"),
    ("not a string", [5], "a volume must be a non-empty string"),
    ("empty source", [":/x"], "empty source before ':'"),
    ("unset var", ["$NO_SUCH_VAR_ACE/x:/x"], "environment variable $NO_SUCH_VAR_ACE is not set"),
    ("duplicate", ["/d", "v:/d/"], "target /d is already mounted by '/d'"),
    ("secret form", ["cl_secret:./x.tmpl"], "expected cl_secret:./file.tmpl:/target"),
    ("secret missing", ["cl_secret:./x.tmpl:/x"], "template './x.tmpl' not found in"),
    ("secret escape", ["cl_secret:../x.tmpl:/x"], "resolves outside the app source"),
]


@pytest.mark.parametrize(
    ("vols", "message"), [v[1:] for v in VOLUME_ERRORS], ids=[v[0] for v in VOLUME_ERRORS]
)
def test_volume_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vols: list[Any], message: str
) -> None:
    """Each bad volume is a located AppError that says what to change."""
    monkeypatch.delenv("ACE_ALLOWED_MOUNTS", raising=False)
    src = make_app(tmp_path, SERVICE)
    assert message in resolve_error({"volumes": vols}, src).message


def test_relative_bind_needs_source() -> None:
    """An app without a source cannot bind ./ paths."""
    err = resolve_error({"src": "image:busybox", "port": 1, "volumes": ["./x:/x"]}, None)
    assert "needs an app source directory" in err.message


def test_duplicate_between_config_and_apps_file(tmp_path: Path) -> None:
    """container_vols and config volumes share one target namespace; the same string twice is
    one volume."""
    src = make_app(tmp_path, SERVICE)
    same = resolve({"volumes": ["v:/d"]}, src, container_vols=("v:/d",))
    assert same.volumes == (Volume("volume", "v", "/d"),)
    err = resolve_error({"volumes": ["/d"]}, src, container_vols=("other:/d",))
    assert "target /d is already mounted" in err.message


# --- cl_secret templates ------------------------------------------------------------------


def test_secret_volume_renders_params(tmp_path: Path) -> None:
    """cl_secret renders the template with params as strings and mounts it read-only."""
    spec = make_app(
        tmp_path,
        {
            **SERVICE,
            "secrets.toml.tmpl": 'user = "{{ .params.user }}"\n{{- /* c */ -}}\n'
            'n = {{index .params "count"}}\nk = "{{secret "API_KEY"}}"\nflag = {{ .params.on }}\n',
        },
        "spec",
    )
    cfg = resolve(
        {"volumes": ["cl_secret:./secrets.toml.tmpl:/app/.streamlit/secrets.toml"]},
        None,
        spec=spec,
        params={"user": "ann", "count": 3, "on": True, "secrets": [["x"]]},
        env_params={"user": "ann", "count": "3"},
        secret=lambda key: f"<{key}>",
    )
    (vol,) = cfg.volumes
    assert (vol.kind, vol.source, vol.target, vol.read_only) == (
        "secret",
        str(spec / "secrets.toml.tmpl"),
        "/app/.streamlit/secrets.toml",
        True,
    )
    assert vol.content == 'user = "ann"n = 3\nk = "<API_KEY>"\nflag = true\n'
    assert files_read(cfg) == (str(spec / "Containerfile"), str(spec / "secrets.toml.tmpl"))


def test_secret_template_from_source_wins(tmp_path: Path) -> None:
    """The user's source template wins over the spec's."""
    src = make_app(tmp_path, {**SERVICE, "s.tmpl": "mine"})
    spec = make_app(tmp_path, {"s.tmpl": "spec"}, "spec")
    cfg = resolve({"volumes": ["cl_secret:s.tmpl:/s"]}, src, spec=spec)
    assert cfg.volumes[0].content == "mine" and cfg.volumes[0].source == str(src / "s.tmpl")


def test_secret_template_go_constructs(tmp_path: Path) -> None:
    """cl_secret templates are Go templates: range over the params (sorted), if, pipelines; a
    param that is not there prints <no value>, as in Go."""
    text = (
        '{{range $k, $v := .params}}{{$k}}={{$v | printf "%q"}}\n{{end}}'
        "{{if eq .params.a \"1\"}}one{{else}}other{{end}} {{.params.nope}}"
    )
    src = make_app(tmp_path, {**SERVICE, "s.tmpl": text})
    cfg = resolve({"volumes": ["cl_secret:./s.tmpl:/s"]}, src, env_params={"b": "x y", "a": "1"})
    assert cfg.volumes[0].content == 'a="1"\nb="x y"\none <no value>'


TEMPLATE_ERRORS = [
    ("unknown function", "{{ .params.a | upper }}", 'line 1: function "upper" is not supported'),
    ("define", '\n{{ define "x" }}{{ end }}', "line 2: {{define}} is not supported"),
    ("unclosed", "x\n{{ .params.a", "line 2: unclosed action"),
    ("unclosed if", "{{ if .params.a }}x", "line 1: unclosed {{if}}"),
    ("secret without lookup", '{{ secret "K" }}', "needs secrets, which are not available"),
]


@pytest.mark.parametrize(
    ("text", "message"), [t[1:] for t in TEMPLATE_ERRORS], ids=[t[0] for t in TEMPLATE_ERRORS]
)
def test_secret_template_errors(tmp_path: Path, text: str, message: str) -> None:
    """Template syntax ace does not implement, or broken syntax, is a located error naming the
    template."""
    src = make_app(tmp_path, {**SERVICE, "s.tmpl": text})
    err = resolve_error({"volumes": ["cl_secret:./s.tmpl:/s"]}, src, env_params={"a": "1"})
    assert message in err.message and str(src / "s.tmpl") in err.message


def test_secret_lookup_refusal_is_located(tmp_path: Path) -> None:
    """A secret the caller's lookup refuses is an AppError at the config call."""

    def refuse(key: str) -> str:
        raise PermissionError(f"app /web is not permitted to read secret {key}")

    src = make_app(tmp_path, {**SERVICE, "s.tmpl": 'k={{ secret "TOKEN" }}'})
    err = resolve_error({"volumes": ["cl_secret:./s.tmpl:/s"]}, src, secret=refuse)
    assert 'line 1: {{secret "TOKEN"}}: app /web is not permitted to read secret TOKEN' in str(err)


def test_render_template_literals_and_trim() -> None:
    """String literals print; trim markers eat whitespace on their side only."""
    assert render_template('a {{ "x" }} {{`y`}}', {}) == "a x y"
    assert render_template("a \n {{- .params.p -}} \n b", {"p": "P"}) == "aPb"
    with pytest.raises(TemplateError, match="line 1"):
        render_template("{{ $x }}", {})
