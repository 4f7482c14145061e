"""Go text/template parsing: tokens to nodes, with Go's checks done at parse time.

Like Go, the parser rejects an unknown function, a variable used outside its scope (a
variable lives until the `{{end}}` of the `if`, `with` or `range` it is declared in), `break`
and `continue` outside `range`, and constants in a later pipeline stage. It also rejects what
ace does not implement: `define`, `template` and `block`, and complex numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.gotemplate.lexer import Token, tokenize
from apps.gotemplate.nodes import (
    Action,
    Arg,
    Bool,
    Break,
    Chain,
    Command,
    Continue,
    Control,
    Dot,
    Field,
    Identifier,
    Literal,
    Nil,
    Node,
    Pipe,
    Text,
    Variable,
)
from apps.gotemplate.values import TemplateError

__all__ = ["parse"]

MAX_DEPTH = 100
_OPERAND_START = frozenset(
    {"bool", "char", "number", "dot", "field", "ident", "nil", "string", "var", "lparen"}
)
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
}


def _fail(line: int, message: str) -> TemplateError:
    return TemplateError(f"line {line}: {message}")


def _escape(body: str, pos: int, quote: str, src: str, line: int) -> tuple[int, bool, int]:
    """One escape at body[pos] (after the backslash): (code, is_byte, next position)."""
    esc = body[pos]
    if esc in _SIMPLE_ESCAPES:
        return ord(_SIMPLE_ESCAPES[esc]), False, pos + 1
    if esc == quote:
        return ord(esc), False, pos + 1
    size, base, is_byte = {"x": (2, 16, True), "u": (4, 16, False), "U": (8, 16, False)}.get(
        esc, (3, 8, True) if esc in "01234567" else (0, 0, False)
    )
    start = pos + (0 if base == 8 else 1)
    digits = body[start : start + size]
    try:
        code = int(digits, base) if size and len(digits) == size else -1
    except ValueError:
        code = -1
    if code < 0 or code > (0xFF if is_byte else 0x10FFFF) or 0xD800 <= code <= 0xDFFF:
        raise _fail(line, f"invalid escape '\\{body[pos:start + size]}' in {src}")
    return code, is_byte, start + size


def _unquote(src: str, line: int) -> str:
    """Go's strconv.Unquote for a "..." or `...` literal."""
    if src.startswith("`"):
        return src[1:-1].replace("\r", "")
    body, out, pos = src[1:-1], bytearray(), 0
    while pos < len(body):
        if body[pos] != "\\":
            out += body[pos].encode("utf-8", "surrogatepass")
            pos += 1
            continue
        code, is_byte, pos = _escape(body, pos + 1, '"', src, line)
        out += bytes([code]) if is_byte else chr(code).encode("utf-8")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(line, f"string {src} is not valid UTF-8 (its \\x or octal escapes)") from exc


def _char(src: str, line: int) -> int:
    """A character constant's code point, as Go's `'a'` gives the int 97."""
    body = src[1:-1]
    if body.startswith("\\") and len(body) > 1:
        code, _is_byte, end = _escape(body, 1, "'", src, line)
    else:
        code, end = (ord(body[0]), 1) if body else (-1, 0)
    if code < 0 or end != len(body):
        raise _fail(line, f"malformed character constant: {src}")
    return code


def _number(src: str, line: int) -> int | float:
    """A number literal, typed as Go's untyped constants are: int unless it has . e or p."""
    sign = -1 if src.startswith("-") else 1
    body = src.lstrip("+-")
    prefix = body[:2].lower()
    if body.endswith("i"):
        raise _fail(line, f"complex number {src} is not supported")
    if "__" in body or body.endswith("_") or not body or body == ".":
        raise _fail(line, f"illegal number syntax: {src!r}")
    try:
        if prefix == "0x" and "p" in body.lower():
            return sign * float.fromhex(body.replace("_", ""))
        if prefix != "0x" and any(ch in body for ch in ".eE"):
            value = sign * float(body)
            if value in (float("inf"), float("-inf")):
                raise ValueError(src)
            return value
        base = {"0x": 16, "0o": 8, "0b": 2}.get(prefix, 8 if body[:1] == "0" and body[1:] else 10)
        digits = body[2:] if prefix in ("0x", "0o", "0b") else body
        number = sign * int(digits.replace("_", "") or "x", base)
    except ValueError as exc:
        raise _fail(line, f"illegal number syntax: {src!r}") from exc
    if not -(2**63) <= number < 2**63:
        raise _fail(line, f"integer overflow: {src!r} does not fit in Go's int")
    return number


def _describe(tok: Token) -> str:
    names = {"right": "'}}'", "eof": "the end of the template", "space": "a space"}
    if tok.kind in names:
        return names[tok.kind]
    if tok.kind == "keyword":
        return f"<{tok.value}>"
    return repr(tok.value)


@dataclass(frozen=True)
class _Marker:
    """An `{{end}}` or `{{else}}` (`chained`: "if"/"with" for `{{else if}}`/`{{else with}}`)."""

    kind: str
    line: int
    left: Token
    chained: str = ""


class _Parser:
    def __init__(self, tokens: list[Token], functions: frozenset[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.functions = functions
        self.vars = ["$"]
        self.range_depth = 0
        self.depth = 0

    def next(self) -> Token:
        tok = self.tokens[min(self.pos, len(self.tokens) - 1)]
        self.pos += 1
        return tok

    def peek(self) -> Token:
        return self.tokens[min(self.pos, len(self.tokens) - 1)]

    def next_non_space(self) -> Token:
        while self.peek().kind == "space":
            self.pos += 1
        return self.next()

    def peek_non_space(self) -> Token:
        pos = self.pos
        while self.tokens[min(pos, len(self.tokens) - 1)].kind == "space":
            pos += 1
        return self.tokens[min(pos, len(self.tokens) - 1)]

    def unexpected(self, tok: Token, context: str) -> TemplateError:
        return _fail(tok.line, f"unexpected {_describe(tok)} in {context}")

    def nest(self, line: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(line, f"actions and parentheses nest more than {MAX_DEPTH} deep")

    def parse(self) -> tuple[Node, ...]:
        nodes: list[Node] = []
        while self.peek().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _Marker):
                raise _fail(
                    node.line, f"unexpected {{{{{node.kind}}}}}: no {{{{if}}}}, {{{{with}}}} "
                    "or {{range}} is open here"
                )
            nodes.append(node)
        return tuple(nodes)

    def text_or_action(self) -> Node | _Marker:
        tok = self.next()
        if tok.kind == "text":
            return Text(tok.line, tok.value)
        return self.action(tok)

    def action(self, left: Token) -> Node | _Marker:
        tok = self.peek_non_space()
        if tok.kind != "keyword":
            return Action(left.line, left.src, self.pipeline("command", "right"))
        self.next_non_space()
        word = tok.value
        if word in ("if", "with", "range"):
            return self.control(word, left)
        if word == "else":
            after = self.peek_non_space()
            if after.kind == "keyword" and after.value in ("if", "with"):
                return _Marker("else", tok.line, left, after.value)
            self.expect_right("{{else}}")
            return _Marker("else", tok.line, left)
        if word == "end":
            self.expect_right("{{end}}")
            return _Marker("end", tok.line, left)
        if word in ("break", "continue"):
            if self.range_depth == 0:
                raise _fail(tok.line, f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect_right(f"{{{{{word}}}}}")
            return Break(tok.line) if word == "break" else Continue(tok.line)
        raise _fail(
            tok.line, f"{{{{{word}}}}} is not supported: ace renders one template file, without "
            "define, template or block"
        )

    def expect_right(self, context: str) -> None:
        tok = self.next_non_space()
        if tok.kind != "right":
            raise self.unexpected(tok, context)

    def item_list(self, kind: str, line: int) -> tuple[tuple[Node, ...], _Marker]:
        nodes: list[Node] = []
        while True:
            if self.peek().kind == "eof":
                raise _fail(line, f"unclosed {{{{{kind}}}}}: no {{{{end}}}} before the end of the "
                            "template")
            node = self.text_or_action()
            if isinstance(node, _Marker):
                return tuple(nodes), node
            nodes.append(node)

    def control(self, kind: str, left: Token) -> Control:
        self.nest(left.line)
        scope = len(self.vars)
        pipe = self.pipeline(kind, "right")
        in_range = 1 if kind == "range" else 0
        self.range_depth += in_range
        body, marker = self.item_list(kind, left.line)
        self.range_depth -= in_range
        else_body: tuple[Node, ...] = ()
        if marker.kind == "else" and marker.chained:
            if marker.chained != kind:
                raise _fail(marker.line, f"{{{{else {marker.chained}}}}} is only allowed in "
                            f"{{{{{marker.chained}}}}}, not in {{{{{kind}}}}}")
            self.next_non_space()  # the chained keyword
            else_body = (self.control(kind, marker.left),)
        elif marker.kind == "else":
            else_body, end = self.item_list(kind, left.line)
            if end.kind == "else":
                raise _fail(end.line, f"a second {{{{else}}}} in one {{{{{kind}}}}}; expected "
                            "{{end}}")
        del self.vars[scope:]
        self.depth -= 1
        return Control(left.line, left.src, kind, pipe, body, else_body)

    def declarations(self, context: str) -> tuple[list[str], bool]:
        known = set(self.vars)
        decls: list[str] = []
        is_assign = False
        while True:
            start = self.pos
            var = self.next_non_space()
            after = self.next_non_space() if var.kind == "var" else var
            if var.kind != "var" or after.kind not in ("declare", "assign", "comma"):
                self.pos = start
                break
            decls.append(var.value)
            self.vars.append(var.value)
            if after.kind != "comma":
                is_assign = after.kind == "assign"
                break
            if context != "range" or len(decls) >= 2:
                raise _fail(var.line, f"too many declarations in {context}")
            if self.peek_non_space().kind != "var":
                raise _fail(var.line, "range can only initialize variables")
        for name in decls if is_assign else ():
            if name not in known:
                raise _fail(self.peek().line, f'undefined variable "{name}" assigned with "="; '
                            f"declare it first with {name} :=")
        return decls, is_assign

    def pipeline(self, context: str, end: str) -> Pipe:
        line = self.peek_non_space().line
        decls, is_assign = self.declarations(context)
        cmds: list[Command] = []
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                break
            if tok.kind not in _OPERAND_START:
                raise self.unexpected(tok, context)
            self.pos -= 1
            cmds.append(self.command())
        if not cmds:
            raise _fail(line, f"missing value for {context}")
        for stage, cmd in enumerate(cmds[1:], 2):
            if isinstance(cmd.args[0], Bool | Dot | Nil | Literal):
                raise _fail(cmd.line, f"pipeline stage {stage} is a constant, which cannot take "
                            "the piped value; use a function there")
        return Pipe(line, tuple(decls), is_assign, tuple(cmds))

    def command(self) -> Command:
        line = self.peek_non_space().line
        args: list[Arg] = []
        while True:
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("right", "rparen"):
                self.pos -= 1
            elif tok.kind != "pipe":
                raise self.unexpected(tok, "operand (operands are separated by spaces)")
            break
        if not args:
            raise _fail(line, "empty command in pipeline")
        return Command(line, tuple(args))

    def operand(self) -> Arg | None:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        names: list[str] = []
        while self.peek().kind == "field":
            names.append(self.next().value[1:])
        if isinstance(node, Field):
            return Field(node.line, node.names + tuple(names))
        if isinstance(node, Variable):
            return Variable(node.line, node.name, node.names + tuple(names))
        if isinstance(node, Bool | Literal | Nil | Dot):
            raise _fail(node.line, "unexpected . after a constant, nil or dot")
        return Chain(node.line, node, tuple(names))

    def term(self) -> Arg | None:
        tok = self.next_non_space()
        line, kind, value = tok.line, tok.kind, tok.value
        if kind == "ident":
            if value not in self.functions:
                supported = ", ".join(sorted(self.functions))
                raise _fail(line, f'function "{value}" is not supported (supported: {supported})')
            return Identifier(line, value)
        if kind == "var":
            if value not in self.vars:
                raise _fail(line, f'undefined variable "{value}"')
            return Variable(line, value, ())
        if kind == "lparen":
            self.nest(line)
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            self.depth -= 1
            return pipe
        if kind == "dot":
            return Dot(line)
        if kind == "nil":
            return Nil(line)
        if kind == "field":
            return Field(line, (value[1:],))
        if kind == "bool":
            return Bool(line, value == "true")
        if kind == "number":
            return Literal(line, _number(value, line), value)
        if kind == "char":
            return Literal(line, _char(value, line), value)
        if kind == "string":
            return Literal(line, _unquote(value, line), value)
        self.pos -= 1
        return None


def parse(text: str, functions: frozenset[str]) -> tuple[Node, ...]:
    """Parse a template; `functions` are the names it may call. Raises `TemplateError`."""
    return _Parser(tokenize(text), functions).parse()
