"""Reading the few facts ace needs from a Containerfile/Dockerfile: the EXPOSEd port and VOLUMEs.

This is a small line scanner, not a build: it understands what a real builder would, to the extent
that the two facts come out right —

- the `# escape=` parser directive (backslash by default, backtick allowed);
- line continuations (a line ending in the escape character), with comment lines and empty lines
  inside a continuation skipped as BuildKit does;
- comments (`#` as the first non-blank character of a line) everywhere else;
- heredocs (`RUN <<EOF ... EOF`, `<<-EOF`, quoted delimiters): their bodies are skipped, so an
  `EXPOSE` written inside a script is not mistaken for an instruction;
- every stage of a multi-stage file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["ContainerfileFacts", "parse_expose_port", "scan_containerfile"]

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_.-]*)\2")
_PORT = re.compile(r"^(\d{1,5})(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ContainerfileFacts:
    """`port`: the port EXPOSE gives (0 when none parses); `volumes`: VOLUME targets in order."""

    port: int
    volumes: tuple[str, ...]


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
    out: list[str] = []
    current: list[str] = []
    heredocs: list[tuple[str, bool]] = []  # (delimiter, strip leading tabs)
    for line in raw[start:]:
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
        if body.endswith(escape):
            current.append(body[: -len(escape)])
            continue
        current.append(body)
        instruction = " ".join(part.strip() for part in current).strip()
        current = []
        out.append(instruction)
        heredocs = [(m.group(3), m.group(1) == "-") for m in _HEREDOC.finditer(instruction)]
    if current:
        out.append(" ".join(part.strip() for part in current).strip())
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
    parse (`$PORT`, `53/udp`) contributes nothing, so an earlier one still counts.
    """
    port = 0
    volumes: list[str] = []
    for instruction in _logical_lines(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "EXPOSE":
            tokens = rest.split()
            if tokens:
                found = parse_expose_port(tokens[0])
                if found:
                    port = found
        elif keyword == "VOLUME":
            volumes.extend(_volume_targets(rest))
    return ContainerfileFacts(port=port, volumes=tuple(volumes))
