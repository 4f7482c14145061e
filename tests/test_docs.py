"""The docs cannot drift from the code: docs/reference/cli.md is what scripts/gen_cli_docs.py
prints, every relative link in README.md and docs/ leads to a file, and every page's apps files,
app.star files and shell sessions run against the real engine (marked `engine`, one test per
page) with the output the page shows; a block that cannot run here says why in its marker."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from apps.errors import EngineError
from reconciler.driver.engine import DockerEngine
from tests.docs_markers import CHECKED_LANGUAGES, blocks, fences
from tests.docs_run import run_page
from tests.engine.podmankit import rootful_host

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "reference" / "cli.md"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_PODMAN_PAGES = {"docs/howto/podman.md"}


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _runs(page: Path) -> bool:
    return any(b.kind not in ("skip", "setup", "setup-sh", "ctrl-c")
               for b in blocks(page.read_text(encoding="utf-8")))


def _page_params() -> list[object]:
    return [pytest.param(p, id=_name(p), marks=[pytest.mark.podman] if _name(p) in
                         _PODMAN_PAGES else []) for p in PAGES if _runs(p)]


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
    broken = []
    for page in PAGES:
        for target, _anchor in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def unmarked(text: str) -> list[str]:
    """The fenced blocks of a page that must say whether they run and carry no marker."""
    return [f"line {f.line}: ```{f.lang}" for f in fences(text)
            if f.lang in CHECKED_LANGUAGES and f.marker is None]


def test_every_code_block_runs_or_says_why_not() -> None:
    """Every sh/bash/console/python/star block of README.md and docs/ carries a docs-test
    marker (run, or skip with a reason), and every marker is one the runner reads."""
    missing = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        blocks(text)  # raises on a marker it cannot read or a marker without its block
        missing += [f"{_name(page)} {m}" for m in unmarked(text)]
    assert not missing, ("blocks without a docs-test marker (add `<!-- docs-test: sh -->` and "
                         "friends, or `<!-- docs-test: skip: WHY -->`):\n" + "\n".join(missing))


def test_an_unmarked_block_is_found() -> None:
    """A new shell block without a marker is reported; a marked or plain-text one is not."""
    text = ("<!-- docs-test: sh -->\n```sh\nace plan\n```\n\n```sh\nace status\n```\n\n"
            "```text\nsome output\n```\n<!-- docs-test: skip: needs a swarm -->\n```bash\nx\n```\n")
    assert unmarked(text) == ["line 6: ```sh"]


def test_a_skip_needs_a_reason() -> None:
    """`skip` without a reason is not a marker the runner reads."""
    with pytest.raises(AssertionError, match="unknown docs-test marker"):
        blocks("<!-- docs-test: skip -->\n```sh\nace watch\n```\n")


@pytest.mark.engine
@pytest.mark.parametrize("page", _page_params())
def test_page_runs(page: Path, tmp_path: Path, busybox: str) -> None:
    """Every docs-test block of the page runs, in order, in an empty directory, and prints what
    the page shows; what it made is removed afterwards."""
    if _name(page) in _PODMAN_PAGES:
        _podman_answers()
    counts = run_page(page, tmp_path)
    assert counts.ran > 0


def _podman_answers() -> None:
    """Fail (never skip) with the fix when Podman's rootful service, which the page uses, is
    silent."""
    host = rootful_host()
    eng = DockerEngine(base_url=host, timeout=10.0)
    try:
        eng.ping()
    except EngineError as e:
        pytest.fail(f"no Podman service answers at {host} ({e}): run scripts/ensure-podman.sh"
                    " (as root)", pytrace=False)
    finally:
        eng.close()
