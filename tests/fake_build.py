"""The fake engine's image build: a Containerfile read step by step (FROM, named stages and
`--target`, EXPOSE, CMD, ARG, COPY sources checked, RUN through tests/fake_shell.py), its log
emitted as the engine's, a failed step raised as the driver's build error."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apps.errors import EngineError
from reconciler.driver.buildfail import build_failed
from tests.fake_objects import FakeImage
from tests.fake_shell import exec_form, interpret

__all__ = ["Built", "read_build"]

_BUILDKIT_FLAG = re.compile(r"^RUN\s+((?:--\S+\s+)+)", re.IGNORECASE)


@dataclass(frozen=True)
class Built:
    """What a build makes: its base image (None FROM scratch), exposed ports and CMD."""

    base: FakeImage | None
    exposed: tuple[int, ...]
    cmd: tuple[str, ...]


def read_build(
    *,
    context_dir: str,
    containerfile: str,
    tag: str,
    build_args: Mapping[str, str],
    image: Callable[[str, str], FakeImage],
    on_log: Callable[[str], None] | None = None,
    target: str = "",
) -> Built:
    """Run the build of `tag` from `containerfile` in `context_dir`; `image(ref, what)` finds
    a FROM image or raises the engine's error."""
    path = os.path.join(context_dir, containerfile)
    if not os.path.isdir(context_dir):
        raise EngineError(f"build {tag}: context directory {context_dir} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            original = f.read()
            text = original.replace("\\\n", " ")
    except OSError as e:
        raise EngineError(f"build {tag}: cannot read container file {path}: {e}") from e
    steps = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] != "#"]
    if target:
        steps = _up_to_stage(steps, target, tag)
    log: list[str] = []

    def failed() -> EngineError:
        return build_failed(tag, log, containerfile=os.path.abspath(path),
                            containerfile_text=original)

    def emit(line: str) -> None:
        log.append(line)
        if on_log is not None:
            on_log(line)

    base: FakeImage | None = None
    exposed: set[int] = set()
    cmd: tuple[str, ...] = ()
    stage = ""
    stages: dict[str, tuple[FakeImage | None, set[int], tuple[str, ...]]] = {}
    args = dict(build_args)
    for n, step in enumerate(steps, 1):
        emit(f"Step {n}/{len(steps)} : {step}")
        word, _, rest = step.partition(" ")
        word = word.upper()
        if word == "FROM":
            if stage:  # the stage that ends here can be built FROM by name
                stages[stage] = (base, set(exposed), cmd)
            words = rest.split()
            stage = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else ""
            if words[0].lower() in stages:
                base, exposed, cmd = stages[words[0].lower()]
                exposed = set(exposed)
            elif words[0] != "scratch":
                base = image(words[0], f"build {tag}")
                exposed, cmd = set(base.exposed), base.cmd
        elif word == "EXPOSE":
            exposed |= {int(p.split("/")[0]) for p in rest.split()}
        elif word == "CMD":
            cmd = exec_form(rest)
        elif word == "ARG":
            name, _, default = rest.partition("=")
            args.setdefault(name.strip(), default.strip())
        elif word == "COPY":
            src = rest.split()[-2] if not rest.startswith("[") else json.loads(rest)[0]
            if not os.path.exists(os.path.join(context_dir, src)):
                emit(f"COPY failed: file not found in build context: {src}")
                raise failed()
        elif word == "RUN":
            script = _BUILDKIT_FLAG.sub("RUN ", step)[4:].strip()
            res = interpret(exec_form(script), args, "/")
            for line in res.both:
                emit(line)
            if res.code:
                emit(f"The command '/bin/sh -c {script}' returned a non-zero code: {res.code}")
                raise failed()
    return Built(base, tuple(sorted(exposed)), cmd)


def _up_to_stage(steps: list[str], target: str, tag: str) -> list[str]:
    """The steps of a multi-stage file up to the end of stage `target` (`FROM x AS target`)."""
    start = None
    for i, step in enumerate(steps):
        words = step.split()
        if words[0].upper() != "FROM":
            continue
        if start is not None:
            return steps[:i]
        if len(words) >= 4 and words[-2].upper() == "AS" and words[-1].lower() == target.lower():
            start = i
    if start is None:
        raise EngineError(f"build {tag}: target stage {target!r} could not be found")
    return steps

