"""What a failed build says: the failing step, its exit code, its last lines of output and the
container file line, read from the build's output (BuildKit's plain progress or the classic
builder's stream). Pure: no engine calls. The SDK engine and the test twin both raise
`BuildFailed` through `build_failed`, so the two cannot drift."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from apps.errors import EngineError, where

__all__ = ["OUTPUT_LINES", "BuildFailed", "BuildFailure", "build_failed", "parse_failure"]

OUTPUT_LINES = 15  # lines of the failing step's output kept
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# BuildKit plain progress: "#7 [2/3] RUN make", "#7 0.512 output", "#7 ERROR: ...".
_BK_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$")
_BK_OUT = re.compile(r"^#(\d+) \d+\.\d+ ?(.*)$")
_BK_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_BK_WHERE = re.compile(r"^(\S+?):(\d+)$")
# The classic builder: "Step 2/3 : RUN make", then output, then an error line.
_CLASSIC_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_CLASSIC_NOISE = re.compile(r"^ ---> |^Removing intermediate container ")
_EXIT_CODE = re.compile(r"(?:exit code:|non-zero code:)\s*(-?\d+)")


@dataclass(frozen=True, slots=True)
class BuildFailure:
    """`step` as "[2/3] RUN make" ("" when the output names none), `exit_code` ("" unless a
    command failed), the failing step's last `output` lines, and where it is declared."""

    step: str
    exit_code: str
    output: tuple[str, ...]
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return where(self.file, self.line)

    def headline(self, tag: str, why: str = "") -> str:
        """"build of TAG failed at step [2/3] RUN make (Containerfile:2): exit code 2"."""
        out = f"build of {tag} failed"
        if self.step:
            out += f" at step {self.step}"
        if self.where:
            out += f" ({self.where})"
        if self.exit_code:
            out += f": exit code {self.exit_code}"
        elif why:
            out += f": {why}"
        return out


class BuildFailed(EngineError):
    """A build that ran and failed (the engine answered): what failed is in `failure`."""

    def __init__(self, message: str, failure: BuildFailure) -> None:
        super().__init__(message)
        self.failure = failure


def _clean(line: str) -> str:
    return _ANSI.sub("", line).rstrip()


def _instructions(text: str) -> list[tuple[int, str]]:
    """Each instruction of a container file: the 1-based line where it starts and its text
    (continuations joined, whitespace collapsed), comments and blank lines skipped, in the
    classic builder's step order."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if not parts:
            start = n
        parts.append(s[:-1] if s.endswith("\\") else s)
        if not s.endswith("\\"):
            out.append((start, " ".join(" ".join(parts).split())))
            parts = []
    return out


def _line_of(step: str, instructions: list[tuple[int, str]]) -> int:
    """The line of the instruction a step ("[2/3] RUN make") shows, found by its text."""
    text = " ".join(step.partition("] ")[2].split())
    return next((n for n, ins in instructions if text and ins == text), 0)


def _buildkit(lines: Sequence[str]) -> BuildFailure | None:
    steps: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    failed = ""
    error = ""
    file, line = "", 0
    for ln in lines:
        if m := _BK_STEP.match(ln):
            steps.setdefault(m.group(1), f"[{m.group(2)}] {m.group(3)}")
        elif m := _BK_ERROR.match(ln):
            if not failed and m.group(1) in steps:
                failed, error = m.group(1), m.group(2)
        elif m := _BK_OUT.match(ln):
            output.setdefault(m.group(1), []).append(m.group(2))
        elif failed and not file and (m := _BK_WHERE.match(ln.strip())):
            file, line = m.group(1), int(m.group(2))
    if not failed:
        return None
    code = _EXIT_CODE.search(error)
    out = [*output.get(failed, []), error]
    return BuildFailure(steps[failed], code.group(1) if code else "",
                        tuple(out[-OUTPUT_LINES:]), file, line)


def _classic(lines: Sequence[str], instructions: list[tuple[int, str]]) -> BuildFailure | None:
    step, number, out = "", 0, list[str]()
    for ln in lines:
        if m := _CLASSIC_STEP.match(ln):
            step, number, out = f"[{m.group(1)}/{m.group(2)}] {m.group(3)}", int(m.group(1)), []
        elif step and not _CLASSIC_NOISE.match(ln):
            out.append(ln)
    if not step:
        return None
    code = next((m.group(1) for ln in reversed(out) if (m := _EXIT_CODE.search(ln))), "")
    line = instructions[number - 1][0] if 0 < number <= len(instructions) else 0
    return BuildFailure(step, code, tuple(out[-OUTPUT_LINES:]), "", line)


def parse_failure(lines: Sequence[str], containerfile: str = "",
                  containerfile_text: str = "") -> BuildFailure:
    """The failure the output of a failed build describes. `containerfile` (its path) and its
    text place the failing step; without a step, the output's last lines are kept."""
    clean = [c for c in (_clean(x) for x in lines) if c]
    instructions = _instructions(containerfile_text)
    found = _buildkit(clean) or _classic(clean, instructions)
    if found is None:
        return BuildFailure("", "", tuple(clean[-OUTPUT_LINES:]))
    if not found.line:  # BuildKit before 0.9 does not say where: find the step's instruction
        found = BuildFailure(found.step, found.exit_code, found.output, "",
                             _line_of(found.step, instructions))
    if found.line and containerfile:
        return BuildFailure(found.step, found.exit_code, found.output, containerfile,
                            found.line)
    return found


def build_failed(tag: str, lines: Sequence[str], *, containerfile: str = "",
                 containerfile_text: str = "", why: str = "") -> BuildFailed:
    """The exception for a failed build of `tag` whose output was `lines`: the message's first
    line says what failed (step, file:line, exit code), the next ones the step's last output."""
    f = parse_failure(lines, containerfile, containerfile_text)
    message = "\n".join([f.headline(tag, why), *f.output])
    return BuildFailed(message, f)
