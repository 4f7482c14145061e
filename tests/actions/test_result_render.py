"""Rendering an action's ace.result and the actions list."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

import apps
from reconciler.cli.results import actions_json, print_actions, print_result


def shown(result: dict[str, Any]) -> list[str]:
    buf = io.StringIO()
    print_result(result, console=Console(file=buf, width=100, color_system=None))
    return [line.rstrip() for line in buf.getvalue().splitlines()]


def test_strings_are_lines_under_the_status() -> None:
    assert shown({"status": "Command output", "values": ["total 0", "[x] bin"]}) == [
        "Command output", "total 0", "[x] bin"]


def test_dicts_are_a_table_with_every_key() -> None:
    lines = shown({"status": "ok", "values": [{"name": "a", "size": 1}, {"name": "b", "x": [1]}]})
    assert lines[0] == "ok"
    header = lines[1].split()
    assert [h for h in header if h.isalpha()] == ["name", "size", "x"]
    assert lines[3].split()[0] == "a" and "1" in lines[3]
    assert lines[4].split()[0] == "b" and "[1]" in lines[4]


def test_other_values_are_json() -> None:
    assert shown({"status": "", "values": {"a": 1}}) == ['{"a": 1}']
    assert shown({"status": "s", "values": [1, None]}) == ["s", "1", "null"]
    assert shown({"status": "only", "values": []}) == ["only"]


def test_actions_listing(tmp_path: Any) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "app.star").write_text(
        'def r(d, a):\n    return ace.result("x")\n'
        'app = ace.app("A", actions=[ace.action("Go", "/go", r, description="Does it")])\n')
    (tmp_path / "apps.star").write_text('app("/a", "./a")\n')
    result = apps.evaluate(tmp_path / "apps.star")
    assert actions_json(result.apps) == [{"app": "/a", "name": "A", "actions": [
        {"name": "Go", "path": "/go", "description": "Does it"}]}]
    buf = io.StringIO()
    print_actions(result.apps, console=Console(file=buf, width=100, color_system=None))
    words = [w for w in buf.getvalue().splitlines()[2].split() if w not in "│┃"]
    assert words == ["/a", "Go", "/go", "Does", "it"]
