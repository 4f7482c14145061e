"""Files of an app that a symlink takes out of its source dir are refused, each with a message
that says the file leaves the app source and where it leads; symlinks that stay inside work."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import assert_error, evaluate_files, only_app, only_error, write_tree

AUTO_APP = """load("container.in", "container")
app = ace.app("x", container=container.config(container.AUTO{extra}),
              permissions=[ace.permission("container.in", "config", [container.AUTO])])
"""
NAMED_APP = """load("container.in", "container")
app = ace.app("x", container=container.config("Build.file"),
              permissions=[ace.permission("container.in", "config", ["Build.file"])])
"""
SERVICE = "FROM busybox\nEXPOSE 8080\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the app source holding files an app must not reach."""
    return write_tree(tmp_path / "outside", {
        "lib.star": "x = 1\n", "app.star": 'app = ace.app("x")\n', "params.star": 'param("p")\n',
        "Containerfile": SERVICE, "t.tmpl": "k={{.params.p}}\n",
    })


def _leaves(message: str, link: Path, target: Path) -> None:
    assert f"{link} leaves the app source" in message, message
    assert f"resolves through a symlink to {target}" in message, message


def test_load_through_link_out_says_it_leaves(tmp_path: Path, outside: Path) -> None:
    """load() of a .star file linked out of the source says so, not "no such file"."""
    src = write_tree(tmp_path / "src", {})
    (src / "lib.star").symlink_to(outside / "lib.star")
    err = only_error(evaluate_files(tmp_path, {
        "app.star": 'load("lib.star", "x")\napp = ace.app("x")\n'}))
    assert_error(err, message="cannot load 'lib.star': ", file=src / "app.star", line=1, column=1)
    _leaves(err.message, src / "lib.star", outside / "lib.star")
    assert "no such file" not in err.message


def test_load_through_linked_dir_out_says_it_leaves(tmp_path: Path, outside: Path) -> None:
    """A directory link out of the source takes the files below it out too."""
    src = write_tree(tmp_path / "src", {})
    (src / "lib").symlink_to(outside)
    err = only_error(evaluate_files(tmp_path, {
        "app.star": 'load("lib/lib.star", "x")\napp = ace.app("x")\n'}))
    _leaves(err.message, src / "lib/lib.star", outside / "lib.star")


def test_app_star_and_params_star_linked_out(tmp_path: Path, outside: Path) -> None:
    """app.star or params.star linked out of the source is an error at the app(...) call."""
    src = write_tree(tmp_path / "src", {})
    (src / "app.star").symlink_to(outside / "app.star")
    err = only_error(evaluate_files(tmp_path, {}))
    assert_error(err, message="cannot read app.star: ", file=tmp_path / "apps.star", line=1,
                 column=1)
    _leaves(err.message, src / "app.star", outside / "app.star")
    (src / "app.star").unlink()
    (src / "params.star").symlink_to(outside / "params.star")
    err = only_error(evaluate_files(tmp_path, {"app.star": 'app = ace.app("x")\n'}))
    assert_error(err, message="cannot read params.star: ", file=tmp_path / "apps.star", line=1,
                 column=1)
    _leaves(err.message, src / "params.star", outside / "params.star")


@pytest.mark.parametrize(("name", "app_star"), [
    ("Containerfile", AUTO_APP.format(extra="")), ("Build.file", NAMED_APP)])
def test_containerfile_linked_out(tmp_path: Path, outside: Path, name: str, app_star: str
                                  ) -> None:
    """A container file (found by AUTO or named) linked out of the source is refused at the
    container.config call."""
    src = write_tree(tmp_path / "src", {})
    (src / name).symlink_to(outside / "Containerfile")
    err = only_error(evaluate_files(tmp_path, {"app.star": app_star}))
    assert_error(err, message="container file ", file=src / "app.star", line=2, column=30)
    _leaves(err.message, src / name, outside / "Containerfile")


def test_secret_template_linked_out(tmp_path: Path, outside: Path) -> None:
    """A cl_secret template linked out of the source is refused and the link is named."""
    src = write_tree(tmp_path / "src", {"Containerfile": SERVICE})
    (src / "t.tmpl").symlink_to(outside / "t.tmpl")
    err = only_error(evaluate_files(tmp_path, {"app.star": AUTO_APP.format(
        extra=', volumes=["cl_secret:./t.tmpl:/etc/t"]')}))
    assert "template './t.tmpl' resolves outside the app source" in err.message
    assert f"{src / 't.tmpl'} resolves through a symlink to {outside / 't.tmpl'}" in err.message


def test_links_that_stay_inside_work(tmp_path: Path) -> None:
    """A load, a container file and a template reached through links inside the source
    evaluate as if they were the files themselves."""
    src = write_tree(tmp_path / "src", {
        "real/lib.star": "x = 1\n", "real/Containerfile": SERVICE, "real/t.tmpl": "k=v\n"})
    for name in ("lib.star", "Containerfile", "t.tmpl"):
        (src / name).symlink_to(src / "real" / name)
    app = only_app(evaluate_files(tmp_path, {"app.star": 'load("lib.star", "x")\n' + AUTO_APP
                                             .format(extra=', volumes=["cl_secret:./t.tmpl:/t"]')}))
    assert app.container is not None
    assert app.container.containerfile == str(src / "real/Containerfile")
    assert app.container.volumes[0].content == "k=v\n"
