"""app.star: the builtins, loads, specs and the App value it evaluates to."""

from __future__ import annotations

from pathlib import Path

import pytest

import apps
from apps.model import Action, App, AppEntry, ContainerConfig, Permission, Route

from .helpers import assert_error, evaluate_files, only_app, only_error, write_tree

# The two sample app.star texts of the container plugin documentation, unmodified.
SEED_PROXY_APP = """load("proxy.in", "proxy")
load("container.in", "container")

app = ace.app("My App",
              routes=[
                  ace.proxy("/", proxy.config(container.URL))
              ],
              container=container.config(container.AUTO),
              permissions=[
                  ace.permission("proxy.in", "config", [container.URL]),
                  ace.permission("container.in", "config", [container.AUTO])
              ]
       ) 
"""  # noqa: W291 - the trailing blank is part of the original text

SEED_COMMAND_APP = """load("container.in", "container")

def run(dry_run, args):
    split = args.command.split(" ")
    res = container.run(split[0], split[1:], parse_json=args.json).value
    return ace.result("Command output", res)

app = ace.app(param.app_name + " : " + param.image ,
    actions=[
       ace.action("Run Command using " + param.image, "/", run, description="Run specified command in container", hidden=["secrets", "app_name", "image"])
    ],
    container=container.config("image:" + param.image, lifetime=container.COMMAND),
    permissions=[
       ace.permission("container.in", "config", ["image:" + param.image], secrets=param.secrets),
       ace.permission("container.in", "run", secrets=param.secrets)
    ]
)
"""  # noqa: E501

SEED_COMMAND_PARAMS = """param("app_name", default="Cmd")
param("image")
param("secrets", type=LIST, default=[["regex:.*"]])
param("command", default="ls")
param("json", type=BOOLEAN, default=False)
"""

CONTAINERFILE = "FROM busybox\nEXPOSE 8080/tcp\nCMD [\"httpd\", \"-f\"]\n"


def test_seed_proxy_app_evaluates_to_a_build(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path, {"app.star": SEED_PROXY_APP, "Containerfile": CONTAINERFILE}
    )
    app = only_app(result)
    src = tmp_path / "src"
    assert app.name == "My App"
    assert app.routes == (Route(path="/", url="<CONTAINER_URL>"),)
    assert app.permissions == (
        Permission("proxy.in", "config", ("<CONTAINER_URL>",)),
        Permission("container.in", "config", ("auto",)),
    )
    assert app.container is not None
    assert (app.container.kind, app.container.containerfile, app.container.build_dir,
            app.container.port, app.container.lifetime) == (
        "build", str(src / "Containerfile"), str(src), 8080, "app")
    assert app.files == (str(src / "app.star"), str(src / "Containerfile"))


def test_seed_command_app_evaluates_to_a_command_image(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {"app.star": SEED_COMMAND_APP, "params.star": SEED_COMMAND_PARAMS},
        'app("/a", "src", params={"image": "busybox"})\n',
    )
    app = only_app(result)
    assert app.name == "Cmd : busybox"
    assert app.actions == (
        Action("Run Command using busybox", "/", "Run specified command in container",
               ("secrets", "app_name", "image")),
    )
    assert app.container is not None
    assert (app.container.kind, app.container.image, app.container.lifetime,
            app.container.port) == ("image", "busybox", "command", 0)
    assert app.permissions[1] == Permission(
        "container.in", "run", (), secrets=(("regex:.*",),)
    )
    assert dict(app.container.env)["command"] == "ls"
    assert "secrets" not in dict(app.container.env)


def test_whole_app_value_for_an_image_spec_app(tmp_path: Path) -> None:
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(
        'app("/img", "-", spec="image", params={"image": "busybox", "port": 80})\n'
    )
    result = apps.evaluate(apps_file, environ={})
    spec_dir = Path(apps.__file__).parent / "specs" / "image"
    entry = AppEntry("/img", "-", "image", (("image", "busybox"), ("port", "80")),
                     file=str(apps_file), line=1)
    assert result.apps == (
        App(
            entry=entry,
            name="Image App",
            params=(("image", "busybox"), ("port", 80), ("app_name", "Image App"),
                    ("secrets", [["regex:.*"]])),
            routes=(Route("/", "<CONTAINER_URL>"),),
            permissions=(
                Permission("proxy.in", "config", ("<CONTAINER_URL>",)),
                Permission("container.in", "config", ("image:busybox",),
                           secrets=(("regex:.*",),)),
            ),
            container=ContainerConfig(
                kind="image", image="busybox", source_dir="", containerfile="", build_dir="",
                port=80,
                env=(("CL_APP_PATH", "/img"), ("CL_APP_URL", "http://127.0.0.1:8000/img"),
                     ("PORT", "80"), ("app_name", "Image App"), ("image", "busybox"),
                     ("port", "80")),
            ),
            files=(str(spec_dir / "params.star"), str(spec_dir / "app.star")),
        ),
    )
    assert result.errors == () and result.failed == frozenset() and result.apps_file_ok
    assert result.files == (str(apps_file),)
    assert result.to_json()["apps"][0]["container"]["kind"] == "image"


@pytest.mark.parametrize(
    ("spec", "params", "kind", "lifetime"),
    [
        ("image", {"image": "nginx", "port": 80}, "image", "app"),
        ("image-cmd", {"image": "busybox"}, "image", "command"),
        ("proxy", {"url": "https://example.com"}, None, None),
    ],
)
def test_builtin_specs_without_source(
    tmp_path: Path, spec: str, params: dict[str, object], kind: str | None, lifetime: str | None
) -> None:
    apps_file = tmp_path / "apps.star"
    apps_file.write_text(f'app("/x", "-", spec="{spec}", params={params!r})\n')
    app = only_app(apps.evaluate(apps_file, environ={}))
    if kind is None:
        assert app.container is None
        assert app.routes == (Route("/", "https://example.com"),)
    else:
        assert app.container is not None
        assert (app.container.kind, app.container.lifetime) == (kind, lifetime)


def test_container_spec_uses_source_containerfile(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path, {"Containerfile": CONTAINERFILE}, 'app("/a", "src", spec="container")\n'
    )
    app = only_app(result)
    assert app.container is not None and app.container.port == 8080
    spec_dir = Path(apps.__file__).parent / "specs" / "container"
    assert app.files == (str(spec_dir / "params.star"), str(spec_dir / "app.star"),
                         str(tmp_path / "src" / "Containerfile"))


def test_source_files_win_over_spec_files(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {
            "params.star": 'param("image", default="alpine")\n'
                           'param("port", type=INT, default=81)\n',
            "app.star": 'load("lib.star", "name")\napp = ace.app(name + param.image)\n',
            "lib.star": 'name = "from source "\n',
        },
        'app("/a", "src", spec="image")\n',
    )
    app = only_app(result)
    assert app.name == "from source alpine"
    assert app.params == (("image", "alpine"), ("port", 81))
    src = tmp_path / "src"
    assert app.files == (str(src / "params.star"), str(src / "app.star"), str(src / "lib.star"))


def test_spec_app_star_loads_source_file_first(tmp_path: Path) -> None:
    # a source without app.star: the spec's app.star is used, the source's params.star wins
    result = evaluate_files(
        tmp_path,
        {"params.star": 'param("url", default="http://up:1")\nparam("app_name", default="P")\n'
                        'param("preserve_host", type=BOOLEAN, default=True)\n'
                        'param("strip_app", type=BOOLEAN, default=False)\n'},
        'app("/a", "src", spec="proxy")\n',
    )
    app = only_app(result)
    assert app.routes == (Route("/", "http://up:1", preserve_host=True, strip_app=False),)
    assert app.name == "P"


def test_builtins_and_loads(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {
            "params.star": 'param("n", type=INT, default=2)\n',
            "app.star": """
                load("lib/helpers.star", "double", "consts")
                load("proxy.in", "proxy")
                load("container.in", "container")
                def run(dry_run, args):
                    return ace.result("ok", [args.n])
                app = ace.app("n=%d" % double(param.n),
                    routes=[ace.proxy("/api", proxy.config(container.URL, strip_path="/api",
                                      preserve_host=True, response_headers={"X-A": "1"})),
                            ace.html("/"), ace.api("/x", run)],
                    actions=[ace.action("Go", "/go", run, suggest=None)],
                    container=container.config(src="image:busybox", port=8080),
                    settings={"k": {"v": 1}},
                    style=ace.style("https://unpkg.com/x.css"), libraries=[ace.library("x", "1")],
                    custom_layout=False,
                    permissions=[ace.permission("container.in", "config", type=ace.READ)],
                )
                assert_consts = [c for c in consts if c != "x"]
            """,
            "lib/helpers.star": """
                def double(n):
                    return n * 2
                consts = [ace.GET, ace.POST, ace.READ, ace.WRITE, ace.CONTAINER_URL]
            """,
        },
    )
    app = only_app(result)
    assert app.name == "n=4"
    assert app.routes == (
        Route("/api", "<CONTAINER_URL>", "/api", True, True, (("X-A", "1"),)),
    )
    assert app.actions == (Action("Go", "/go"),)
    assert app.settings == (("k", {"v": 1}),)
    assert app.permissions == (Permission("container.in", "config", type="READ"),)
    assert app.container is not None and app.container.image == "busybox"


def test_constants(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {
            "app.star": """
                load("container.in", "container")
                vals = [ace.GET, ace.POST, ace.PUT, ace.DELETE, ace.READ, ace.WRITE,
                        ace.CONTAINER_URL == container.URL, container.URL, container.AUTO,
                        container.COMMAND, container.IMAGE_PREFIX]
                app = ace.app(",".join([str(v) for v in vals]))
            """,
        },
    )
    assert only_app(result).name == (
        "GET,POST,PUT,DELETE,READ,WRITE,True,<CONTAINER_URL>,auto,command,image:"
    )


# (files, message, file relative to src, line, column)
APP_STAR_ERRORS = [
    ({"app.star": 'x = param.nope\napp = ace.app("x")\n'},
     "param nope is not declared in params.star (declared params: none)", "app.star", 1, 5),
    ({"app.star": 'load("foo.in", "foo")\napp = ace.app("x")\n'},
     "unknown plugin 'foo.in': ace provides container.in and proxy.in", "app.star", 1, 1),
    ({"app.star": 'x = 1\nload("/etc/x.star", "y")\napp = ace.app("x")\n'},
     "absolute paths are not allowed", "app.star", 2, 1),
    ({"app.star": 'load("../x.star", "y")\napp = ace.app("x")\n'},
     "outside the app's source", "app.star", 1, 1),
    ({"app.star": 'load("missing.star", "y")\napp = ace.app("x")\n'},
     "cannot load 'missing.star': no such file", "app.star", 1, 1),
    ({"app.star": 'load("data.json", "y")\napp = ace.app("x")\n'},
     "load .star files of the app", "app.star", 1, 1),
    ({"app.star": 'ap = ace.app("x")\n'},
     "app.star must end with a global `app = ace.app(...)`: it defines no `app`",
     "app.star", 1, 1),
    ({"app.star": 'app = struct(name="x")\n'}, "`app` is not the value of ace.app(...)",
     "app.star", 1, 1),
    ({"app.star": 'app = ace.app("x"\n'}, "Parse error: '(' was never closed", "app.star", 1, 14),
    ({"app.star": 'x = 1\n\napp = ace.app("x",\n    name=[1, 2\n'},
     "Parse error: '[' was never closed", "app.star", 4, 10),
    ({"app.star": 'load("a.star", "x")\napp = ace.app("x")\n',
      "a.star": 'load("b.star", "y")\nx = 1\n', "b.star": 'z = 0\nload("a.star", "x")\ny = 2\n'},
     "load cycle: a.star -> b.star -> a.star", "b.star", 2, 1),
    ({"app.star": 'load("a.star", "x")\napp = ace.app("x")\n', "a.star": "x = 1 +\n"},
     "Parse error", "a.star", 1, 8),
    ({"app.star": 'load("a.star", "x")\napp = ace.app("x")\n',
      "a.star": 'x = 1\nload("nope.in", "y")\n'}, "unknown plugin 'nope.in'", "a.star", 2, 1),
    ({"app.star": 'load("container.in", "container")\nx = 1\n'
                  'app = ace.app("x",\n    container=container.config("auto", bad=1))\n'},
     "container.config got an unknown keyword argument 'bad'", "app.star", 4, 15),
    ({"app.star": 'load("container.in", "container")\n'
                  'app = ace.app("x", container=container.config("image:busybox"))\n'},
     "gives no port", "app.star", 2, 30),
    ({"app.star": 'app = ace.app("x", routes=[ace.proxy("/", "http://x")])\n'},
     "ace.proxy: config must be the value of proxy.config", "app.star", 1, 28),
    ({"app.star": 'app = ace.app("x", permissions=[ace.permission("container.in")])\n'},
     "ace.permission is missing the required argument 'method'", "app.star", 1, 33),
    ({"app.star": 'app = ace.app("x", actions=[ace.action("a", "/", "notfn")])\n'},
     "ace.action: run must be a function", "app.star", 1, 29),
    ({"app.star": 'def f(d, a):\n    pass\napp = ace.app(3, actions=[ace.action("a", "/", f)])\n'},
     "ace.app: name must be a string", "app.star", 3, 7),
    ({"app.star": 'app = ace.app("x", container="auto")\n'},
     "ace.app: container must be the value of container.config(...)", "app.star", 1, 7),
    ({"app.star": 'load("proxy.in", "proxy")\nx = proxy.config(3)\napp = ace.app("x")\n'},
     "proxy.config: url must be a non-empty string", "app.star", 2, 5),
    ({"app.star": 'x = {}["k"]\napp = ace.app("x")\n'}, "Key `\"k\"` was not found",
     "app.star", 1, 5),
    ({"app.star": 'app = ace.app("x", redirect_bare_path="yes")\n'},
     "ace.app: redirect_bare_path must be True or False", "app.star", 1, 7),
]


@pytest.mark.parametrize(("files", "message", "file", "line", "column"), APP_STAR_ERRORS)
def test_app_star_errors(
    tmp_path: Path, files: dict[str, str], message: str, file: str, line: int, column: int
) -> None:
    result = evaluate_files(tmp_path, files)
    assert_error(only_error(result), message=message, file=tmp_path / "src" / file, line=line,
                 column=column)
    assert result.failed == frozenset({"/a"}) and result.apps == ()


def test_no_app_star_anywhere(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"README": "x"})
    (tmp_path / "apps.star").write_text('app("/a", "src")\napp("/b", "-")\n')
    result = apps.evaluate(tmp_path / "apps.star", environ={})
    assert_error(result.errors[0], message="app /a has no app.star", file=tmp_path / "apps.star",
                 line=1, column=1)
    assert_error(result.errors[1], message='source is "-" and no spec is given',
                 file=tmp_path / "apps.star", line=2, column=1, app="/b")


def test_one_broken_app_does_not_stop_others(tmp_path: Path) -> None:
    write_tree(tmp_path / "good", {"app.star": 'app = ace.app("good")\n'})
    write_tree(tmp_path / "bad", {"app.star": 'app = ace.app(undefined)\n'})
    (tmp_path / "apps.star").write_text(
        'app("/bad", "bad")\napp("/good", "good")\napp("/img", "-", spec="image")\n'
    )
    result = apps.evaluate(tmp_path / "apps.star", environ={})
    assert [a.path for a in result.apps] == ["/good"]
    assert result.failed == frozenset({"/bad", "/img"})
    assert [e.app for e in result.errors] == ["/bad", "/img"]
    assert "param image is a required param" in result.errors[1].message
    assert set(result.runtimes) == {"/good"}


def test_evaluate_app_for_one_entry(tmp_path: Path) -> None:
    """evaluate_app evaluates one entry: undeclared params are warnings, missing ones errors."""
    write_tree(tmp_path / "src", {"app.star": 'app = ace.app("one")\n'})
    entry = AppEntry("/one", str(tmp_path / "src"))
    assert apps.evaluate_app(entry).name == "one"
    undeclared = AppEntry("/two", str(tmp_path / "src"), params=(("x", "1"),))
    assert apps.evaluate_app(undeclared).warnings == (
        "param x is not declared in params.star (declared params: none): it has no effect: "
        "app.star cannot read it and no container receives it",
    )
    broken = AppEntry("/three", str(tmp_path / "src"), params=(("x", "1"),), spec="image")
    with pytest.raises(apps.AppError) as info:
        apps.evaluate_app(broken)
    assert "param image is a required param" in info.value.message


def test_redirect_bare_path_is_kept(tmp_path: Path) -> None:
    """OpenRun's framework specs ask for /app -> /app/ redirects; the default is no redirect."""
    asked = evaluate_files(tmp_path / "a", {"app.star": 'app = ace.app("x", '
                                                          'redirect_bare_path=True)\n'})
    assert only_app(asked).redirect_bare_path is True
    assert only_app(asked).to_json()["redirect_bare_path"] is True
    plain = evaluate_files(tmp_path / "b", {"app.star": 'app = ace.app("x")\n'})
    assert only_app(plain).redirect_bare_path is False


def test_static_app_keywords_are_kept(tmp_path: Path) -> None:
    """OpenRun's static_only, index and single_file are kept in the App (and its JSON); a
    static app has no container."""
    result = evaluate_files(tmp_path, {"app.star": (
        'app = ace.app("s", static_only=True, index="main.html", single_file=True,\n'
        '              style=ace.style("daisyui", themes=["dark"]), libraries=[],\n'
        '              custom_layout=False)\n')})
    app = only_app(result)
    assert (app.static_only, app.index, app.single_file, app.container) == (
        True, "main.html", True, None)
    assert {k: app.to_json()[k] for k in ("static_only", "index", "single_file")} == {
        "static_only": True, "index": "main.html", "single_file": True}
    plain = only_app(evaluate_files(tmp_path / "p", {"app.star": 'app = ace.app("p")\n'}))
    assert (plain.static_only, plain.index, plain.single_file) == (False, "", False)


# (app.star, message, line, column)
APP_KEYWORD_ERRORS = [
    ('x = 1\napp = ace.app("s", static_onyl=True)\n',
     "ace.app got an unknown keyword argument 'static_onyl'; known: name, routes, style, "
     "permissions, libraries, settings, custom_layout, container, actions, static_only, index, "
     "single_file, redirect_bare_path", 2, 7),
    ('app = ace.app("s", static_only="yes")\n',
     'ace.app: static_only must be True or False, got "yes"', 1, 7),
    ('app = ace.app("s", single_file=1)\n', "ace.app: single_file must be True or False, got 1",
     1, 7),
    ('app = ace.app("s", index=None)\n', "ace.app: index must be a file name string, got null",
     1, 7),
]


@pytest.mark.parametrize(("app_star", "message", "line", "column"), APP_KEYWORD_ERRORS)
def test_ace_app_keyword_errors(
    tmp_path: Path, app_star: str, message: str, line: int, column: int
) -> None:
    """ace.app takes exactly OpenRun's keywords, with their types; mistakes are located."""
    result = evaluate_files(tmp_path, {"app.star": app_star})
    assert_error(only_error(result), message=message, file=tmp_path / "src/app.star",
                 line=line, column=column)


def test_ace_config_audit_and_output(tmp_path: Path) -> None:
    """ace.config gives the app URL for _app_url and the dev flag for _dev, the default for
    other keys; ace.audit is accepted (no audit log in ace); ace.output makes a value."""
    result = evaluate_files(tmp_path, {"app.star": (
        'ace.audit("op", "target", detail="d")\n'
        'o = ace.output(value=[1], error="")\n'
        'app = ace.app(",".join([ace.config("_app_url", ""), str(ace.config("_dev", False)),\n'
        '                        ace.config("other", "dflt"), str(ace.config("none")),\n'
        '                        str(o.value)]))\n')},
        'app("/web/x", "src", dev=True)\n')
    assert only_app(result).name == "http://127.0.0.1:8000/web/x,True,dflt,None,[1]"
