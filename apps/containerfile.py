"""Reading the few facts ace needs from a Containerfile/Dockerfile: the EXPOSEd port, VOLUMEs and,
for dev mode, each stage's name, effective WORKDIR, CMD and ENTRYPOINT.

This is a small line scanner, not a build: it understands what a real builder would, to the extent
that these facts come out right —

- the `# escape=` parser directive (backslash by default, backtick allowed);
- line continuations (a line ending in the escape character), with comment lines and empty lines
  inside a continuation skipped as BuildKit does;
- comments (`#` as the first non-blank character of a line) everywhere else;
- heredocs (`RUN <<EOF ... EOF`, `<<-EOF`, quoted delimiters): their bodies are skipped, so an
  `EXPOSE` written inside a script is not mistaken for an instruction;
- every stage of a multi-stage file; a stage built `FROM` an earlier stage inherits its
  WORKDIR, CMD and ENTRYPOINT (an ENTRYPOINT set in a stage drops an inherited CMD, as Docker
  does). Build args are not substituted: `FROM ${IMAGE} AS builder` is a stage named builder
  whose base is unknown.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "ContainerfileFacts",
    "ExposeNote",
    "Stage",
    "StageCommand",
    "parse_expose_port",
    "parse_stages",
    "scan_containerfile",
]

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_PORT = re.compile(r"^(\d{1,5})(?:/(tcp|udp|sctp))?$", re.IGNORECASE)
_EXPOSE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(\w*))?$")


@dataclass(frozen=True, slots=True)
class ExposeNote:
    """An EXPOSE token that gives no port: `refused` when docker refuses to build the file
    (`abc`, `99999`, `80/xyz`), else one docker accepts that ace cannot serve (`0`, `$PORT`,
    `53/udp`, a range). `line` is 1-based in the file; `why` says what is wrong with it."""

    line: int
    token: str
    refused: bool
    why: str


@dataclass(frozen=True, slots=True)
class ContainerfileFacts:
    """`port`: the port EXPOSE gives (0 when none parses); `volumes`: VOLUME targets in order;
    `notes`: EXPOSE tokens docker refuses, and those that would have given the port but name
    none ace can serve."""

    port: int
    volumes: tuple[str, ...]
    notes: tuple[ExposeNote, ...] = ()


def _expose_note(token: str) -> tuple[bool, str] | None:
    """(refused by docker, why) for an EXPOSE token that names no TCP port; None for one that
    does."""
    if "$" in token:
        return False, "names a build arg, which ace does not substitute"
    m = _EXPOSE.match(token)
    if not m:
        return True, "is not a port (write a number in 1..65535, like EXPOSE 8080)"
    low, high, proto = int(m.group(1)), m.group(2), (m.group(3) or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        return True, f"has an unknown protocol {proto!r} (tcp, udp or sctp)"
    if max(low, int(high or 0)) > 65535:
        return True, "is out of range (ports are 1..65535)"
    if high is not None:
        return False, "is a port range, which names no single port to serve"
    if proto != "tcp":
        return False, f"is a {proto} port; a service must answer HTTP on a tcp port"
    if low == 0:
        return False, "is port 0, which no service listens on (ports are 1..65535)"
    return None


def parse_expose_port(token: str) -> int:
    """One EXPOSE token to a port, or 0 when it does not name a TCP port.

    Accepted: `8080` and `8080/tcp` (any case). Not accepted, so skipped: `8080/udp` and
    `8080/sctp` (an HTTP proxy cannot reach a datagram port, and a service must answer HTTP),
    ranges (`8000-8010`), variables (`$PORT`, `${PORT}`: ace does not evaluate build args), and
    anything outside 1..65535.
    """
    m = _PORT.match(token.strip())
    if not m:
        return 0
    proto = (m.group(2) or "tcp").lower()
    port = int(m.group(1))
    if proto != "tcp" or not 1 <= port <= 65535:
        return 0
    return port


def _logical_lines(text: str) -> list[str]:
    """Join continuations, drop comments, directives and heredoc bodies; one instruction each."""
    return [instruction for _, instruction in _numbered_lines(text)]


def _numbered_lines(text: str) -> list[tuple[int, str]]:
    """`_logical_lines`, each with the 1-based line its instruction starts on."""
    raw = text.splitlines()
    escape = "\\"
    # Parser directives: only at the very top, before any other line (comment, blank or not).
    start = 0
    for i, line in enumerate(raw):
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            escape = m.group(2)
        start = i + 1
    out: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0  # the line the current instruction starts on
    heredocs: list[tuple[str, bool]] = []  # (delimiter, strip leading tabs)
    for number, line in enumerate(raw[start:], start + 1):
        if heredocs:
            word, strip_tabs = heredocs[0]
            body = line.lstrip("\t") if strip_tabs else line
            if body.rstrip("\r") == word:
                heredocs.pop(0)
            continue
        stripped = line.strip()
        if stripped.startswith("#"):
            continue  # a comment, also in the middle of a continuation
        if not stripped:
            continue  # blank, also inside a continuation
        body = line.rstrip()
        if not current:
            first = number
        if body.endswith(escape):
            current.append(body[: -len(escape)])
            continue
        current.append(body)
        instruction = " ".join(part.strip() for part in current).strip()
        current = []
        out.append((first, instruction))
        heredocs = [(m.group(3), m.group(1) == "-") for m in _HEREDOC.finditer(instruction)]
    if current:
        out.append((first, " ".join(part.strip() for part in current).strip()))
    return out


def _volume_targets(arguments: str) -> list[str]:
    """VOLUME ["/a", "/b"] or VOLUME /a /b."""
    arguments = arguments.strip()
    if arguments.startswith("["):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return [p for p in parsed if p]
    return [tok.strip("\"'") for tok in arguments.split() if tok.strip("\"'")]


def scan_containerfile(text: str) -> ContainerfileFacts:
    """The EXPOSEd port and VOLUME targets of every stage.

    Port rule (OpenRun's, plus `/tcp`): the first token of each EXPOSE instruction is read; the
    last one that parses (see `parse_expose_port`) wins. An EXPOSE whose first token does not
    parse (`$PORT`, `53/udp`) contributes nothing, so an earlier one still counts; it becomes a
    note, as does every token docker refuses.
    """
    port = 0
    volumes: list[str] = []
    notes: list[ExposeNote] = []
    for line, instruction in _numbered_lines(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "EXPOSE":
            tokens = rest.split()
            if tokens:
                found = parse_expose_port(tokens[0])
                if found:
                    port = found
            for i, token in enumerate(tokens):
                note = _expose_note(token)
                if note is not None and (note[0] or i == 0):
                    notes.append(ExposeNote(line, token, *note))
        elif keyword == "VOLUME":
            volumes.extend(_volume_targets(rest))
    return ContainerfileFacts(port=port, volumes=tuple(volumes), notes=tuple(notes))


@dataclass(frozen=True, slots=True)
class StageCommand:
    """A CMD or ENTRYPOINT: exec form (`["python", "app.py"]`, kept in `words`) or shell form
    (`python app.py`, kept in `text`)."""

    form: Literal["exec", "shell"]
    words: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class Stage:
    """One `FROM` stage with what it ends up with after its own and inherited instructions.

    `name` is as written ("" when the stage has no `AS name`); `parent` is the name of the earlier
    stage it is built from ("" for an image). `workdir` is "" when neither the stage nor a stage
    it is built from sets WORKDIR (the base image's is unknown). `cmd` / `entrypoint` are None
    when not set in the file for this stage or its parent stages."""

    index: int
    name: str
    base: str
    parent: str = ""
    workdir: str = ""
    cmd: StageCommand | None = None
    entrypoint: StageCommand | None = None

    def command_line(self) -> str:
        """ENTRYPOINT and CMD as one shell command line ("" when the file sets neither)."""
        return command_line(self.entrypoint, self.cmd)


def command_line(entrypoint: StageCommand | None, cmd: StageCommand | None) -> str:
    """What the container would run, written for `sh -c`: a shell-form ENTRYPOINT alone (Docker
    ignores CMD then); an exec-form ENTRYPOINT followed by CMD's words (a shell-form CMD becomes
    `/bin/sh -c TEXT`, as Docker passes it); else CMD alone (shell text as is)."""
    if entrypoint is not None and entrypoint.form == "shell":
        return entrypoint.text
    words: list[str] = list(entrypoint.words) if entrypoint is not None else []
    if cmd is not None:
        if cmd.form == "exec":
            words.extend(cmd.words)
        elif words:
            words.extend(["/bin/sh", "-c", cmd.text])
        else:
            return cmd.text
    return shlex.join(words) if words else ""


def _command(arguments: str) -> StageCommand:
    """CMD/ENTRYPOINT arguments: a JSON array of strings is exec form, anything else shell form
    (as Docker decides)."""
    arguments = arguments.strip()
    if arguments.startswith("["):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return StageCommand("exec", words=tuple(parsed))
    return StageCommand("shell", text=arguments)


def _from(arguments: str) -> tuple[str, str]:
    """`FROM [--platform=...] IMAGE [AS name]` -> (image, name)."""
    tokens = [t for t in arguments.split() if not t.startswith("--")]
    image = tokens[0] if tokens else ""
    name = tokens[2] if len(tokens) >= 3 and tokens[1].lower() == "as" else ""
    return image, name


def _workdir(current: str, arguments: str) -> str:
    path = arguments.strip()
    if len(path) >= 2 and path[0] == path[-1] and path[0] in "\"'":
        path = path[1:-1]
    if not path:
        return current
    # A relative WORKDIR joins the previous one; with none known, "/" (Docker's default).
    return posixpath.normpath(posixpath.join(current or "/", path))


def parse_stages(text: str) -> tuple[Stage, ...]:
    """Every stage of the container file in order, with inherited WORKDIR/CMD/ENTRYPOINT.

    Stage names are matched case-insensitively, as builders do. An instruction before the first
    FROM (ARG) belongs to no stage."""
    stages: list[Stage] = []
    by_name: dict[str, Stage] = {}
    current: Stage | None = None
    cmd_set = False

    def close() -> None:
        if current is not None:
            stages.append(current)
            if current.name:
                by_name[current.name.lower()] = current

    for instruction in _logical_lines(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            close()
            image, name = _from(rest)
            current = Stage(index=len(stages), name=name, base=image)
            parent = by_name.get(image.lower())
            if parent is not None:  # built from an earlier stage: inherit what it set
                current = replace(
                    current, parent=parent.name, workdir=parent.workdir, cmd=parent.cmd,
                    entrypoint=parent.entrypoint,
                )
            cmd_set = False
        elif current is None:
            continue
        elif keyword == "WORKDIR":
            current = replace(current, workdir=_workdir(current.workdir, rest))
        elif keyword == "CMD":
            current = replace(current, cmd=_command(rest))
            cmd_set = True
        elif keyword == "ENTRYPOINT":
            # Docker: setting ENTRYPOINT resets a CMD inherited from the base.
            current = replace(
                current, entrypoint=_command(rest), cmd=current.cmd if cmd_set else None
            )
    close()
    return tuple(stages)
