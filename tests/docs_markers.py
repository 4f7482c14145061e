"""The `docs-test` markers of a docs page: which fenced blocks run, in what role, and why the
others do not.

A marker is an HTML comment (invisible on the rendered page) on the line before a fenced block:

- `<!-- docs-test: file PATH -->`: the block is written to PATH (relative to the shell's
  current directory);
- `<!-- docs-test: sh -->`: the block runs with `bash -e`; `sh exit N`: it must exit N;
- `<!-- docs-test: background until URL|TEXT -->`: the block starts and keeps running while
  the next blocks run, once URL answers 200 (or a line of its output matches TEXT);
- `<!-- docs-test: output -->`: each non-empty line matches a line of the last block's output;
- `<!-- docs-test: skip: REASON -->`: the block is for readers only, and REASON says why.

Two markers stand alone, with no block (hidden set-up, used sparingly):

- `<!-- docs-test: setup NAME -->`: copy a prepared tree into the current directory
  (`examples`: the checkout's examples/ plus a `.venv/bin/activate`; others: tests/docs_setup/NAME);
- `<!-- docs-test: setup: COMMANDS -->`: run COMMANDS like a shell block, output not kept;
- `<!-- docs-test: ctrl-c -->`: the reader's Ctrl-C: the background block gets SIGINT and must
  exit 0; its output becomes the last output.

Every fenced block whose language is in `CHECKED_LANGUAGES` must carry a marker, so a new block
is either run or says why not. (The JSON examples of docs/reference/json.md are checked against
their schemas by tests/test_json_schemas.py, and real output against the same schemas.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CHECKED_LANGUAGES", "Block", "Fence", "MarkerError", "blocks", "fences",
           "line_pattern"]

CHECKED_LANGUAGES = frozenset({"sh", "bash", "console", "shell", "python", "star", "starlark"})
_MARK = re.compile(r"^<!--\s*docs-test:\s*(?P<body>.*?)\s*-->$")
_FENCE = re.compile(r"^(?P<ticks>```+)\s*(?P<lang>[\w+-]*)")
_WITH_BLOCK = re.compile(
    r"^(?:file (?P<path>\S+)|sh(?: exit (?P<exit>\d+))?|output"
    r"|background until (?P<until>.+)|skip: (?P<reason>\S.*))$")
_STANDALONE = re.compile(r"^(?:setup (?P<name>[\w-]+)|setup: (?P<cmd>\S.*)|ctrl-c)$")


class MarkerError(AssertionError):
    """A marker the runner cannot read, or one in the wrong place."""


@dataclass(frozen=True)
class Block:
    """One marked step of a page, in order."""

    kind: str  # file, sh, background, output, skip, setup, setup-sh, ctrl-c
    text: str  # the block's text (or the setup's name / commands)
    line: int  # where it starts in the page (1-based)
    arg: str = ""  # file: the path; background: the readiness URL or text; skip: the reason
    exit_code: int = 0  # sh: the exit code the block must end with


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page, with its language and marker (None when unmarked)."""

    line: int
    lang: str
    marker: str | None


def _fence_end(lines: list[str], start: int, ticks: str) -> int:
    end = start + 1
    while end < len(lines) and not lines[end].startswith(ticks):
        end += 1
    if end == len(lines):
        raise MarkerError(f"line {start + 1}: the fenced block is never closed")
    return end


def fences(page: str) -> list[Fence]:
    """Every fenced block of the page, with the marker on the line before it (if any)."""
    lines = page.splitlines()
    found: list[Fence] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        prev = _MARK.match(lines[i - 1].strip()) if i else None
        found.append(Fence(i + 1, m.group("lang").lower(), prev.group("body") if prev else None))
        i = _fence_end(lines, i, m.group("ticks")) + 1
    return found


def _with_block(body: str, text: str, line: int) -> Block:
    m = _WITH_BLOCK.match(body)
    if not m:
        raise MarkerError(f"line {line - 1}: unknown docs-test marker {body!r}")
    if m.group("path"):
        return Block("file", text, line, m.group("path"))
    if body.startswith("sh"):
        return Block("sh", text, line, exit_code=int(m.group("exit") or 0))
    if m.group("until"):
        return Block("background", text, line, m.group("until").strip())
    if m.group("reason"):
        return Block("skip", text, line, m.group("reason").strip())
    return Block(body, text, line)


def blocks(page: str) -> list[Block]:
    """The marked steps of a page, in order; raises MarkerError on a marker it cannot read."""
    lines = page.splitlines()
    found: list[Block] = []
    for i, raw in enumerate(lines):
        m = _MARK.match(raw.strip())
        if not m:
            continue
        body = m.group("body")
        nxt = _FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        alone = _STANDALONE.match(body)
        if alone:
            if nxt:
                raise MarkerError(f"line {i + 1}: {body!r} stands alone; it takes no block")
            if alone.group("name"):
                found.append(Block("setup", alone.group("name"), i + 1))
            elif alone.group("cmd"):
                found.append(Block("setup-sh", alone.group("cmd") + "\n", i + 1))
            else:
                found.append(Block("ctrl-c", "", i + 1))
            continue
        if not nxt:
            raise MarkerError(f"line {i + 1}: docs-test marker {body!r} must be followed by a "
                              "fenced block")
        end = _fence_end(lines, i + 1, nxt.group("ticks"))
        found.append(_with_block(body, "\n".join(lines[i + 2:end]) + "\n", i + 2))
    return found


def line_pattern(expected: str) -> re.Pattern[str]:
    """A regex for one expected output line: `...` matches anything, spaces any whitespace."""
    parts = [r"\s+".join(re.escape(w) for w in piece.split()) for piece in
             expected.strip().split("...")]
    return re.compile(".*".join(parts))
