"""The app network in the desired state: each service app's alias, the network's name, and
alias collisions as located app errors that hold the later app."""

from __future__ import annotations

from typing import Literal

from apps.model import App, AppEntry, ContainerConfig, EvalResult, Route
from reconciler.core.desired import Naming, alias, desired_state, with_errors
from reconciler.core.hashing import DigestCache

NAMING = Naming("inst", "/state")


def _app(path: str, line: int, *, lifetime: Literal["app", "command"] = "app") -> App:
    cfg = ContainerConfig(kind="image", image="busybox", source_dir="", containerfile="",
                          build_dir="", port=8080, lifetime=lifetime)
    return App(AppEntry(path, "-", file="/p/apps.star", line=line), "x", (),
               routes=(Route("/", "<CONTAINER_URL>"),), container=cfg)


def test_aliases_and_network_name() -> None:
    """/api answers to api, /a/b to a-b, / to root; the network is named per installation."""
    assert [alias(p) for p in ("/api", "/a/b", "/", "/My_App")] == ["api", "a-b", "root",
                                                                   "my-app"]
    d = desired_state(EvalResult((_app("/api", 1), _app("/a/b", 2)), ()), NAMING, DigestCache())
    assert [(a.path, a.alias) for a in d.apps] == [("/api", "api"), ("/a/b", "a-b")]
    assert d.network == "ace-inst" and d.errors == () and d.held == frozenset()


def test_alias_collision_is_an_error_naming_both_apps() -> None:
    """/a/b declared after /a-b would answer to the same name: /a/b is held with an error at
    its app(...) line naming both apps; /a-b is unaffected; command apps never collide."""
    result = EvalResult((_app("/a-b", 3), _app("/a/b", 7), _app("/a_b", 9, lifetime="command")),
                        ())
    d = desired_state(result, NAMING, DigestCache())
    assert d.held == frozenset({"/a/b"})
    (err,) = d.errors
    assert (err.app, err.file, err.line) == ("/a/b", "/p/apps.star", 7)
    assert "apps /a-b (line 3) and /a/b would both answer to 'a-b'" in err.message
    assert "rename one of them" in err.message
    merged = with_errors(result, d.errors)
    assert merged.errors == d.errors and merged.failed == frozenset({"/a/b"})
