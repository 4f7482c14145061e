"""The parsed template: frozen nodes, each with the line it starts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Action",
    "Arg",
    "Bool",
    "Break",
    "Chain",
    "Command",
    "Continue",
    "Control",
    "Dot",
    "Field",
    "Identifier",
    "Literal",
    "Nil",
    "Node",
    "Pipe",
    "Text",
    "Variable",
]


@dataclass(frozen=True, slots=True)
class Dot:
    """`.`: the current value."""

    line: int


@dataclass(frozen=True, slots=True)
class Nil:
    """`nil`."""

    line: int


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number or character constant; `value` is its Python value."""

    line: int
    value: Any
    src: str


@dataclass(frozen=True, slots=True)
class Bool:
    """`true` or `false`."""

    line: int
    value: bool


@dataclass(frozen=True, slots=True)
class Field:
    """`.a.b`: fields of dot."""

    line: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Variable:
    """`$x` or `$x.a.b`."""

    line: int
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Identifier:
    """A function name."""

    line: int
    name: str


@dataclass(frozen=True, slots=True)
class Chain:
    """`(pipeline).a.b`: fields of a parenthesised pipeline's value."""

    line: int
    node: Arg
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Command:
    """One stage of a pipeline: an operand, or a function and its arguments."""

    line: int
    args: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Pipe:
    """`$x := a | b c`: optional declared (or assigned) variables, then commands."""

    line: int
    decls: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]


Arg = Dot | Nil | Literal | Bool | Field | Variable | Identifier | Chain | Pipe


@dataclass(frozen=True, slots=True)
class Text:
    """Text outside actions, copied."""

    line: int
    text: str


@dataclass(frozen=True, slots=True)
class Action:
    """`{{pipeline}}`: prints the value unless the pipeline declares variables."""

    line: int
    src: str
    pipe: Pipe


@dataclass(frozen=True, slots=True)
class Control:
    """`{{if}}`, `{{with}}` or `{{range}}` with its body and `{{else}}` body."""

    line: int
    src: str
    kind: str
    pipe: Pipe
    body: tuple[Node, ...]
    else_body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Break:
    """`{{break}}` inside `{{range}}`."""

    line: int


@dataclass(frozen=True, slots=True)
class Continue:
    """`{{continue}}` inside `{{range}}`."""

    line: int


Node = Text | Action | Control | Break | Continue
