"""resolve_container: every rule of container.config resolution and every error it raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.container import files_read
from apps.container_opts import parse_cpus, parse_memory
from apps.containerfile import parse_expose_port, scan_containerfile
from tests.apps.containerkit import SERVICE, make_app, resolve, resolve_error
from tests.apps.helpers import assert_error, evaluate_files, only_error

APP_STAR = (
    'load("container.in", "container")\n'
    'app = ace.app("a", container=container.config(container.AUTO), permissions=[\n'
    '    ace.permission("container.in", "config", [container.AUTO])])\n'
)

# --- source: auto, named file, image ------------------------------------------------------


def test_auto_prefers_containerfile_over_dockerfile(tmp_path: Path) -> None:
    """auto takes Containerfile before Dockerfile and reads EXPOSE for the port."""
    src = make_app(tmp_path, {"Containerfile": "FROM busybox\nEXPOSE 8080\n", "Dockerfile": "X"})
    cfg = resolve({}, src)
    assert cfg.kind == "build"
    assert cfg.containerfile == str(src / "Containerfile")
    assert cfg.build_dir == str(src)
    assert cfg.source_dir == str(src)
    assert (cfg.port, cfg.scheme, cfg.health, cfg.lifetime, cfg.image) == (
        8080,
        "http",
        "/",
        "app",
        "",
    )
    assert files_read(cfg) == (str(src / "Containerfile"),)


def test_auto_falls_back_to_dockerfile(tmp_path: Path) -> None:
    """With no Containerfile, auto uses the Dockerfile."""
    src = make_app(tmp_path, {"Dockerfile": "FROM busybox\nEXPOSE 9000\n"})
    cfg = resolve({"src": "auto"}, src)
    assert cfg.containerfile == str(src / "Dockerfile") and cfg.port == 9000


def test_source_dir_wins_over_spec_dir(tmp_path: Path) -> None:
    """The first search dir holding a container file wins (the user's source before the spec)."""
    src = make_app(tmp_path, {"Dockerfile": "FROM a\nEXPOSE 1000\n"})
    spec = make_app(tmp_path, {"Containerfile": "FROM b\nEXPOSE 2000\n"}, "spec")
    cfg = resolve({}, src, spec=spec)
    assert cfg.containerfile == str(src / "Dockerfile") and cfg.port == 1000


def test_spec_containerfile_builds_in_user_source(tmp_path: Path) -> None:
    """A spec's Containerfile is used when the source has none; the build dir is the source."""
    src = make_app(tmp_path, {"app.py": ""})
    spec = make_app(tmp_path, {"Containerfile": "FROM b\nEXPOSE 2000\n"}, "spec")
    cfg = resolve({}, src, spec=spec)
    assert cfg.containerfile == str(spec / "Containerfile")
    assert cfg.build_dir == str(src)


def test_spec_only_app_builds_in_spec_dir(tmp_path: Path) -> None:
    """source "-": the build dir is relative to the spec dir that holds the container file."""
    spec = make_app(tmp_path, {"Containerfile": "FROM b\nEXPOSE 2000\n", "ctx/a": ""}, "spec")
    cfg = resolve({"build_dir": "ctx"}, None, spec=spec)
    assert cfg.source_dir == "" and cfg.build_dir == str(spec / "ctx")


def test_named_container_file(tmp_path: Path) -> None:
    """Any other src is a container file name relative to the search dirs."""
    src = make_app(tmp_path, {"docker/Prod.Dockerfile": "FROM a\nEXPOSE 81\n"})
    cfg = resolve({"src": "docker/Prod.Dockerfile"}, src)
    assert cfg.containerfile == str(src / "docker" / "Prod.Dockerfile") and cfg.port == 81


def test_image_source(tmp_path: Path) -> None:
    """image:REF runs REF without a build; port is required for a service."""
    cfg = resolve({"src": "image:busybox:1.36", "port": 8080}, None, path="/hello")
    assert (cfg.kind, cfg.image, cfg.containerfile, cfg.build_dir, cfg.port) == (
        "image",
        "busybox:1.36",
        "",
        "",
        8080,
    )
    assert files_read(cfg) == ()


def test_image_command_lifetime_needs_no_port() -> None:
    """A command-lifetime image app may have port 0."""
    cfg = resolve({"src": "image:busybox", "lifetime": "command"}, None)
    assert (cfg.lifetime, cfg.port) == ("command", 0)
    assert dict(cfg.env)["PORT"] == "0"


def test_build_dir(tmp_path: Path) -> None:
    """build_dir is relative to the app source; a leading / means the source root."""
    src = make_app(tmp_path, {"Containerfile": "EXPOSE 1\n", "sub/x": ""})
    assert resolve({"build_dir": "sub"}, src).build_dir == str(src / "sub")
    assert resolve({"build_dir": "/"}, src).build_dir == str(src)
    assert resolve({"build_dir": "/sub/"}, src).build_dir == str(src / "sub")


ERRORS: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("auto none", {}, {"x": ""}, "found neither Containerfile nor Dockerfile in"),
    ("named missing", {"src": "Nope"}, SERVICE, "container file 'Nope' not found in"),
    ("named escape", {"src": "../Containerfile"}, SERVICE, "points outside the app source"),
    ("named absolute", {"src": "/etc/Dockerfile"}, SERVICE, "relative to the app source"),
    ("image no port", {"src": "image:busybox"}, {}, "set port= in container.config"),
    ("image empty", {"src": "image:", "port": 1}, {}, "is not an image reference"),
    ("image spaces", {"src": "image:a b", "port": 1}, {}, "is not an image reference"),
    ("no port", {}, {"Containerfile": "FROM busybox\n"}, "add EXPOSE PORT to"),
    ("port type", {"port": "8080"}, SERVICE, "port= must be an int, not str"),
    ("port bool", {"port": True}, SERVICE, "port= must be an int, not bool"),
    ("port range", {"port": 70000}, SERVICE, "out of range; use 1..65535"),
    ("port negative", {"port": -1}, SERVICE, "out of range"),
    ("scheme", {"scheme": "ftp"}, SERVICE, 'use "http" or "https"'),
    ("scheme type", {"scheme": 1}, SERVICE, "scheme= must be a string, not int"),
    ("health", {"health": "health"}, SERVICE, 'must be a path starting with "/"'),
    ("lifetime", {"lifetime": "daemon"}, SERVICE, "lifetime='daemon' is not known"),
    ("build_dir escape", {"build_dir": "../.."}, SERVICE, "leaves the app source"),
    ("build_dir missing", {"build_dir": "nope"}, SERVICE, "is not a directory"),
    ("cargs type", {"cargs": "A=1"}, SERVICE, "cargs must be a dict"),
    ("cargs key", {"cargs": {"A=B": "1"}}, SERVICE, "not a valid build arg name"),
    ("dev key", {"dev_settings": {"watch": 1}}, SERVICE, "dev_settings key 'watch'"),
    ("dev type", {"dev_settings": ["x"]}, SERVICE, "dev_settings must be a dict"),
    ("command type", {"command": 5}, SERVICE, "command= must be a string or a list"),
    ("command list", {"command": ["a", 1]}, SERVICE, "must be a string or a list of strings"),
    ("command quote", {"command": "sh -c 'x"}, SERVICE, "cannot be split into words"),
    ("volumes type", {"volumes": "/data"}, SERVICE, "volumes= must be a list of strings"),
]


@pytest.mark.parametrize(
    ("raw", "files", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_config_errors(
    tmp_path: Path, raw: dict[str, Any], files: dict[str, str], message: str
) -> None:
    """Each mistake is an AppError at the config call whose message says what to fix."""
    src = make_app(tmp_path, files) if files else None
    err = resolve_error(raw, src)
    assert message in err.message


def test_no_port_error_names_both_fixes(tmp_path: Path) -> None:
    """The missing-port error names port= and EXPOSE and the container file."""
    src = make_app(tmp_path, {"Containerfile": "FROM busybox\nEXPOSE $PORT\n"})
    msg = resolve_error({}, src).message
    assert "port=" in msg and "EXPOSE" in msg and str(src / "Containerfile") in msg


def test_auto_error_names_dirs_searched(tmp_path: Path) -> None:
    """The no-container-file error names both file names and every dir searched."""
    src = make_app(tmp_path, {"a": ""})
    spec = make_app(tmp_path, {"b": ""}, "spec")
    msg = resolve_error({}, src, spec=spec).message
    assert "Containerfile" in msg and "Dockerfile" in msg
    assert str(src) in msg and str(spec) in msg


def test_command_lifetime_build_without_port(tmp_path: Path) -> None:
    """A command-lifetime build needs no port."""
    src = make_app(tmp_path, {"Containerfile": "FROM busybox\n"})
    assert resolve({"lifetime": "command"}, src).port == 0


def test_config_port_wins_over_expose(tmp_path: Path) -> None:
    """A non-zero port= wins over EXPOSE."""
    src = make_app(tmp_path, SERVICE)
    assert resolve({"port": 3000}, src).port == 3000
    assert resolve({"port": 0}, src).port == 8080


# --- EXPOSE and VOLUME --------------------------------------------------------------------

EXPOSE_CASES = [
    ("plain", "FROM a\nEXPOSE 8080\n", 8080),
    ("tcp", "FROM a\nEXPOSE 8080/tcp\n", 8080),
    ("TCP upper", "FROM a\nexpose 8080/TCP\n", 8080),
    ("udp ignored", "FROM a\nEXPOSE 53/udp\n", 0),
    ("udp then tcp", "FROM a\nEXPOSE 80\nEXPOSE 53/udp\n", 80),
    ("first token", "FROM a\nEXPOSE 80 443\n", 80),
    ("last wins", "FROM a\nEXPOSE 80\nEXPOSE 9090\n", 9090),
    ("multi-stage", "FROM a AS b\nEXPOSE 1111\nFROM c\nRUN x\n", 1111),
    ("multi-stage last", "FROM a AS b\nEXPOSE 1111\nFROM c\nEXPOSE 2222\n", 2222),
    ("variable skipped", "FROM a\nEXPOSE 7000\nEXPOSE $PORT\n", 7000),
    ("braced variable", "FROM a\nEXPOSE ${PORT}\n", 0),
    ("range skipped", "FROM a\nEXPOSE 8000-8010\n", 0),
    ("too big", "FROM a\nEXPOSE 70000\n", 0),
    ("continuation", "FROM a\nEXPOSE \\\n  8081 \\\n  8082\n", 8081),
    ("continuation comment", "FROM a\nRUN echo \\\n# EXPOSE 1\n  hi\nEXPOSE 5\n", 5),
    ("continued RUN hides EXPOSE", "FROM a\nRUN echo \\\n  EXPOSE 99\n", 0),
    ("comment", "FROM a\n# EXPOSE 1234\nEXPOSE 4321\n", 4321),
    ("indented comment", "FROM a\n   # EXPOSE 1\n", 0),
    ("heredoc body", "FROM a\nRUN <<EOF\nEXPOSE 1\nEOF\nEXPOSE 2\n", 2),
    ("heredoc dash", "FROM a\nRUN <<-'END'\n\tEXPOSE 1\n\tEND\n", 0),
    ("escape directive", "# escape=`\nFROM a\nEXPOSE `\n 6060\n", 6060),
    ("lowercase", "from a\nexpose 3030\n", 3030),
]


@pytest.mark.parametrize(
    ("text", "port"), [c[1:] for c in EXPOSE_CASES], ids=[c[0] for c in EXPOSE_CASES]
)
def test_expose(text: str, port: int) -> None:
    """EXPOSE: first token of each, last parseable wins, /tcp accepted, udp/vars/ranges skipped."""
    assert scan_containerfile(text).port == port


@pytest.mark.parametrize(
    ("token", "port"),
    [("80", 80), ("80/tcp", 80), ("80/udp", 0), ("80/sctp", 0), ("0", 0), ("x", 0), ("", 0)],
)
def test_parse_expose_port(token: str, port: int) -> None:
    """One EXPOSE token to a TCP port, 0 when it names none."""
    assert parse_expose_port(token) == port


# --- options, build args, dev settings, env -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "cpus"), [("2", 2.0), ("0.5", 0.5), ("500m", 0.5), ("1.5", 1.5), ('"2"', 2.0)]
)
def test_parse_cpus(value: str, cpus: float) -> None:
    """cpus: counts, fractions and millicores (also JSON-encoded)."""
    assert parse_cpus(value) == cpus


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("512m", 512 * 2**20),
        ("1g", 2**30),
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("2GB", 2 * 2**30),
        ("1.5g", 3 * 2**29),
        ("10485760", 10 * 2**20),
        ("8192k", 8 * 2**20),
        ('"1g"', 2**30),
    ],
)
def test_parse_memory(value: str, size: int) -> None:
    """memory: Docker's binary units, Kubernetes' Mi/Gi, plain bytes."""
    assert parse_memory(value) == size


OPTS_ERRORS = [
    ((("cpus", "two"),), "container_opts cpus 'two' is not a CPU count"),
    ((("cpus", "0"),), "must be more than 0"),
    ((("memory", "lots"),), "container_opts memory 'lots' is not a size"),
    ((("memory", "512x"),), "is not a size"),
    ((("memory", "1k"),), "below the 6 MiB minimum"),
    ((("gpus", "all"),), "container_opts key 'gpus' is not supported; allowed keys: cpus, memory"),
]


@pytest.mark.parametrize(("opts", "message"), OPTS_ERRORS)
def test_container_opts_errors(tmp_path: Path, opts: tuple[tuple[str, str]], message: str) -> None:
    """Bad container_opts are located errors listing what is allowed."""
    src = make_app(tmp_path, SERVICE)
    assert message in resolve_error({}, src, container_opts=opts).message


def test_container_opts_error_points_at_the_apps_file(tmp_path: Path) -> None:
    """A bad container_opts key is located at the app(...) call in the apps file that gave it,
    not at the app's container.config call."""
    result = evaluate_files(
        tmp_path, {**SERVICE, "app.star": APP_STAR},
        '# apps\nx = 1\n  \nif x:  app("/a", "src", container_opts={"bogus": 1})\n',
    )
    assert_error(only_error(result), message="container_opts key 'bogus' is not supported",
                 file=tmp_path / "apps.star", line=4, column=8)


def test_options_build_args(tmp_path: Path) -> None:
    """container_opts parse; container_args win over cargs; dev_settings leave a normal app be."""
    src = make_app(tmp_path, SERVICE)
    cfg = resolve(
        {
            "cargs": {"B": 1, "A": "x", "F": True, "L": ["p"]},
            "dev_settings": {"target": "builder", "reload": "none", "env_files": ["a.txt"]},
        },
        src,
        container_opts=(("cpus", "500m"), ("memory", "512Mi")),
        container_args=(("A", "from-apps-file"), ("Z", "z")),
    )
    assert (cfg.cpus, cfg.memory) == (0.5, 512 * 2**20)
    assert cfg.build_args == (
        ("A", "from-apps-file"),
        ("B", "1"),
        ("F", "true"),
        ("L", '["p"]'),
        ("Z", "z"),
    )
    assert (cfg.dev, cfg.dev_note, cfg.command) == (None, "", ())


def test_command_override(tmp_path: Path) -> None:
    """command replaces CMD: a string splits shell-like, a list is kept; "" means unset."""
    src = make_app(tmp_path, SERVICE)
    cmd = "sh -c 'echo hi && exec httpd -f'"
    assert resolve({"command": cmd}, src).command == ("sh", "-c", "echo hi && exec httpd -f")
    assert resolve({"command": ["a", "b c"]}, src).command == ("a", "b c")
    assert resolve({"command": ""}, src).command == ()


def test_dev_command_is_not_the_command(tmp_path: Path) -> None:
    """In dev mode dev_settings.command lives in `dev`; `command` stays the normal-run one."""
    src = make_app(tmp_path, {"Containerfile": "FROM a AS dev\nWORKDIR /w\nFROM b\nEXPOSE 80\n"})
    raw: dict[str, Any] = {"dev_settings": {"command": "python -m app --reload"}}
    dev_cfg = resolve(raw, src, dev=True)
    assert dev_cfg.command == () and dev_cfg.dev is not None
    assert dev_cfg.dev.command == "python -m app --reload"
    assert resolve({**raw, "command": "run"}, src, dev=True).command == ("run",)
    assert resolve(raw, src, dev=False).dev is None


@pytest.mark.parametrize(
    ("path", "app_path", "url"),
    [("/web", "/web", "http://127.0.0.1:8000/web"), ("/", "", "http://127.0.0.1:8000")],
)
def test_env(tmp_path: Path, path: str, app_path: str, url: str) -> None:
    """env: every param string (not secrets), PORT, CL_APP_PATH, CL_APP_URL, sorted."""
    src = make_app(tmp_path, SERVICE)
    cfg = resolve(
        {}, src, path=path, env_params={"image": "busybox", "n": "3", "secrets": '[["x"]]'}
    )
    assert cfg.env == (
        ("CL_APP_PATH", app_path),
        ("CL_APP_URL", url),
        ("PORT", "8080"),
        ("image", "busybox"),
        ("n", "3"),
    )


def test_result_is_frozen_and_json(tmp_path: Path) -> None:
    """The result is a frozen value whose JSON has the documented keys."""
    src = make_app(tmp_path, SERVICE)
    cfg = resolve({"volumes": ["/d"]}, src)
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]
    doc = cfg.to_json()
    assert doc["kind"] == "build" and doc["port"] == 8080
    assert doc["volumes"] == [{"kind": "volume", "source": "", "target": "/d", "read_only": False}]


# --- the examples -------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_web_resolves() -> None:
    """examples/web builds from its Containerfile and serves on the EXPOSEd port."""
    cfg = resolve({"src": "auto"}, EXAMPLES / "web")
    assert (cfg.kind, cfg.port, cfg.lifetime) == ("build", 8080, "app")
    assert cfg.containerfile == str(EXAMPLES / "web" / "Containerfile")
    assert cfg.build_dir == str(EXAMPLES / "web")


def test_example_hello_and_cmd_resolve() -> None:
    """examples/hello is an image service with a command; examples/cmd a command image."""
    hello = resolve(
        {"src": "image:busybox", "port": 8080, "command": ["sh", "-c", "exec httpd -f"]},
        EXAMPLES / "hello",
        path="/hello",
    )
    assert (hello.kind, hello.image, hello.port, hello.command[0]) == (
        "image",
        "busybox",
        8080,
        "sh",
    )
    cmd = resolve({"src": "image:busybox", "lifetime": "command"}, EXAMPLES / "cmd", path="/cmd")
    assert (cmd.kind, cmd.lifetime, cmd.port) == ("image", "command", 0)
