"""Run docs/tutorial.md as a test: its marked blocks, in order, in an empty directory.

A marker comment on the line before a fenced block says what the block is:

- `<!-- docs-test: file PATH -->`: write the block's text to PATH (relative to the directory);
- `<!-- docs-test: sh -->`: run the block with `bash -e` there; `ace` on the PATH is this
  checkout's ace (`sys.executable -m reconciler`);
- `<!-- docs-test: output -->`: each non-empty line must match a line of the last shell block's
  output (stdout and stderr): `...` stands for anything, a run of spaces for any whitespace.

Unmarked blocks are for readers only (e.g. a long-running `ace watch`). Whatever the run made is
removed at the end with `ace down --images --volumes`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "blocks", "line_pattern", "run_tutorial"]

_MARK = re.compile(r"^<!-- docs-test: (file (?P<path>\S+)|sh|output) -->$")
_FENCE = re.compile(r"^```")
_SHELL_TIMEOUT = 120.0


@dataclass(frozen=True)
class Block:
    kind: str  # "file", "sh" or "output"
    text: str
    line: int  # the block's first line in the page (1-based)
    path: str = ""  # for "file"


def blocks(page: str) -> list[Block]:
    """The marked blocks of a page, in order."""
    lines = page.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _MARK.match(lines[i].strip())
        if not m:
            i += 1
            continue
        if i + 1 >= len(lines) or not _FENCE.match(lines[i + 1]):
            raise AssertionError(f"tutorial line {i + 1}: a docs-test marker must be followed "
                                 "by a fenced block")
        end = i + 2
        while end < len(lines) and not _FENCE.match(lines[end]):
            end += 1
        text = "\n".join(lines[i + 2:end]) + "\n"
        kind = "file" if m.group("path") else m.group(1)
        found.append(Block(kind, text, i + 2, m.group("path") or ""))
        i = end + 1
    return found


def line_pattern(expected: str) -> re.Pattern[str]:
    """A regex for one expected output line: `...` matches anything, spaces any whitespace."""
    parts = [r"\s+".join(re.escape(w) for w in piece.split()) for piece in
             expected.strip().split("...")]
    return re.compile(".*".join(parts))


def _shim(bin_dir: Path) -> None:
    bin_dir.mkdir()
    ace = bin_dir / "ace"
    ace.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    ace.chmod(0o755)


def run_tutorial(page: Path, workdir: Path) -> None:
    """Run the page's blocks in `workdir` (created empty); fail naming the block that broke."""
    project = workdir / "tutorial"
    project.mkdir()
    _shim(workdir / "bin")
    env = {**os.environ, "PATH": f"{workdir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("ACE_FILE", None)
    env.pop("ACE_STATE_DIR", None)
    output = ""
    last_sh = 0
    try:
        for b in blocks(page.read_text(encoding="utf-8")):
            if b.kind == "file":
                target = project / b.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(b.text)
            elif b.kind == "sh":
                done = subprocess.run(["bash", "-e", "-c", b.text], cwd=project, env=env,
                                      capture_output=True, text=True, timeout=_SHELL_TIMEOUT)
                output = done.stdout + done.stderr
                last_sh = b.line
                assert done.returncode == 0, (
                    f"{page.name} line {b.line}: the block exited {done.returncode}:\n{output}")
            else:
                got = output.splitlines()
                for want in filter(str.strip, b.text.splitlines()):
                    pat = line_pattern(want)
                    assert any(pat.search(g) for g in got), (
                        f"{page.name} line {b.line}: {want!r} is not in the output of the "
                        f"block at line {last_sh}:\n{output}")
    finally:
        subprocess.run(["ace", "down", "--images", "--volumes"], cwd=project, env=env,
                       capture_output=True, timeout=_SHELL_TIMEOUT, check=False)
