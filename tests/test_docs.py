"""The docs cannot drift from the code: docs/reference/cli.md is what scripts/gen_cli_docs.py
prints, every relative link in README.md and docs/ leads to a file, and the tutorial's shell
blocks run against the real engine (marked `engine`) with the output the page shows."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.docs_tutorial import run_tutorial

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "reference" / "cli.md"


def _generator() -> ModuleType:
    script = ROOT / "scripts" / "gen_cli_docs.py"
    spec = importlib.util.spec_from_file_location("gen_cli_docs", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_generated() -> None:
    """docs/reference/cli.md equals the generator's output (regenerate it on a command change)."""
    expected = _generator().render()
    assert CLI_MD.read_text(encoding="utf-8") == expected, (
        "docs/reference/cli.md is out of date: run "
        "`python scripts/gen_cli_docs.py > docs/reference/cli.md`")


def test_cli_reference_names_every_command_and_option() -> None:
    """Every command and each of its options appears in the generated page."""
    import typer.main

    from reconciler.cli.app import app

    text = _generator().render()
    group = typer.main.get_command(app)
    for name, cmd in getattr(group, "commands", {}).items():
        assert f"## `ace {name}`" in text
        for p in cmd.params:
            for opt in p.opts if p.param_type_name == "option" else ():
                assert f"`{opt}`" in text, (name, opt)


def test_generator_runs_as_a_script() -> None:
    """`python scripts/gen_cli_docs.py` prints the page (how the docs say to regenerate it)."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py")],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=60)
    assert out.stdout == CLI_MD.read_text(encoding="utf-8")


def test_down_on_exit_help_names_the_signal_not_watch() -> None:
    """`ace serve --help` says --down-on-exit acts on Ctrl-C / SIGTERM, never "when watch stops"."""
    out = subprocess.run([sys.executable, "-m", "reconciler", "serve", "--help"],
                         capture_output=True, text=True, check=True, timeout=60,
                         env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                              "PYTHONPATH": str(ROOT)})
    line = next(x for x in out.stdout.splitlines() if "--down-on-exit" in x)
    assert "SIGTERM" in line and "watch" not in line


_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_relative_links_lead_to_files() -> None:
    """Every relative link in README.md and docs/*.md names a file or directory that exists."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target, _anchor in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


@pytest.mark.engine
def test_tutorial_runs(tmp_path: Path, busybox: str) -> None:
    """Every docs-test block of docs/tutorial.md runs in an empty directory and prints what the
    page shows."""
    run_tutorial(ROOT / "docs" / "tutorial.md", tmp_path)
