"""EXPOSE lines that give no port are named with their file and line: those docker refuses to
build are errors whatever port= says; those it accepts but ace cannot serve (`0`, `$PORT`,
`53/udp`, ranges) are named in the missing-port error."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.containerfile import ExposeNote, scan_containerfile
from apps.errors import AppError

from .containerkit import make_app, resolve, resolve_error

HEAD = "FROM busybox\nRUN echo \\\n    hi\n# a comment\n"  # EXPOSE below lands on line 5


@pytest.mark.parametrize(("expose", "why"), [
    ("99999", "EXPOSE 99999 is out of range (ports are 1..65535)"),
    ("abc", "EXPOSE abc is not a port (write a number in 1..65535, like EXPOSE 8080)"),
    ("8080/xyz", "EXPOSE 8080/xyz has an unknown protocol 'xyz' (tcp, udp or sctp)"),
    ("8080 abc", "EXPOSE abc is not a port"),
    ("70000-70010", "EXPOSE 70000-70010 is out of range"),
])
@pytest.mark.parametrize("config", [{}, {"port": 8080}])
def test_expose_docker_refuses_is_an_error_at_its_line(tmp_path: Path, expose: str, why: str,
                                                       config: dict[str, int]) -> None:
    """An EXPOSE docker would refuse to build is an error at the container file's line, even
    when port= is given (the build would fail)."""
    src = make_app(tmp_path, {"Containerfile": f"{HEAD}EXPOSE {expose}\n"})
    with pytest.raises(AppError) as info:
        resolve(config, src)
    err = info.value
    assert (err.app, err.file, err.line, err.column) == ("/web", str(src / "Containerfile"), 5, 1)
    assert err.message.startswith(why) and err.message.endswith(
        "; docker refuses to build this file"), err.message


@pytest.mark.parametrize(("expose", "why"), [
    ("0", "is port 0, which no service listens on (ports are 1..65535)"),
    ("$P", "names a build arg, which ace does not substitute"),
    ("${PORT}", "names a build arg, which ace does not substitute"),
    ("53/udp", "is a udp port; a service must answer HTTP on a tcp port"),
    ("8000-8010", "is a port range, which names no single port to serve"),
])
def test_expose_without_a_servable_port_is_named(tmp_path: Path, expose: str, why: str) -> None:
    """With no port=, an EXPOSE docker accepts but ace cannot serve is named, with file:line,
    in the missing-port error at the container.config call."""
    src = make_app(tmp_path, {"Containerfile": f"{HEAD}EXPOSE {expose}\n"})
    msg = resolve_error({}, src).message
    assert msg == (f"no port for this service: EXPOSE {expose} at {src / 'Containerfile'}:5 "
                   f"{why}; set port= in container.config, or EXPOSE the port as a number")


def test_expose_variable_with_port_given_is_fine(tmp_path: Path) -> None:
    """`EXPOSE $PORT` with port= given (as OpenRun's reflex spec does) evaluates."""
    src = make_app(tmp_path, {"Containerfile": f"{HEAD}EXPOSE $PORT\nEXPOSE 0\n"})
    assert resolve({"port": 8000}, src).port == 8000


def test_scan_notes_lines_and_first_tokens() -> None:
    """Notes carry the line an instruction starts on; later tokens are noted only when docker
    refuses them (ace reads the first token of each EXPOSE)."""
    text = "FROM a\n\nEXPOSE \\\n  $P 53/udp\nEXPOSE 8080 abc\n"
    facts = scan_containerfile(text)
    assert facts.port == 8080
    assert [(n.line, n.token, n.refused) for n in facts.notes] == [
        (3, "$P", False), (5, "abc", True)]
    assert facts.notes[0] == ExposeNote(3, "$P", False,
                                        "names a build arg, which ace does not substitute")
