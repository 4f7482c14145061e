"""Go text/template lexing: text, `{{ }}` actions with trim markers, comments, and the tokens
inside actions.

Trim markers follow Go: `{{- ` and ` -}}` need the space (a space, tab, carriage return or
newline) between the dash and the action, and they remove all the whitespace, newlines
included, on their side. `{{-3}}` is the number -3. A comment `{{/* ... */}}` must start and
end at the delimiters (`{{- /* ... */ -}}` with trim markers) and produces nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from apps.gotemplate.values import TemplateError

__all__ = ["KEYWORDS", "Token", "tokenize"]

SPACES = " \t\r\n"
KEYWORDS = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}
)
_SPACE_CHARS = frozenset(SPACES)
_TERMINATORS = SPACES + ".,|:()"


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical item; `kind` is text, left, right, space, field, var, dot, ident, keyword,
    bool, nil, string, char, number, pipe, lparen, rparen, declare, assign, comma or eof.
    `value` is the source text (for text: the text after trimming); `src` the whole action's
    source for a `left` token."""

    kind: str
    value: str
    line: int
    src: str = ""


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line(self, pos: int | None = None) -> int:
        return bisect_left(self.newlines, self.pos if pos is None else pos) + 1

    def fail(self, message: str, pos: int | None = None) -> TemplateError:
        return TemplateError(f"line {self.line(pos)}: {message}")

    def emit(self, kind: str, start: int, value: str | None = None) -> None:
        text = self.text[start : self.pos] if value is None else value
        self.tokens.append(Token(kind, text, self.line(start)))

    def right_delim(self) -> tuple[bool, bool]:
        """(at a right delimiter, it has a trim marker) at the current position."""
        text, pos = self.text, self.pos
        if text[pos : pos + 1] in _SPACE_CHARS and text.startswith("-}}", pos + 1):
            return True, True
        return text.startswith("}}", pos), False

    def run(self) -> list[Token]:
        text = self.text
        while True:
            start = text.find("{{", self.pos)
            if start < 0:
                if self.pos < len(text):
                    self.emit("text", self.pos, text[self.pos :])
                break
            marker = text[start + 2 : start + 4]
            trim_left = marker[:1] == "-" and marker[1:] in _SPACE_CHARS
            before = text[self.pos : start]
            if trim_left:
                before = before.rstrip(SPACES)
            if before:
                self.emit("text", self.pos, before)
            self.pos = start + (4 if trim_left else 2)
            if text.startswith("/*", self.pos):
                self.comment(start)
            else:
                self.action(start)
        self.tokens.append(Token("eof", "", self.line(len(text))))
        return self.tokens

    def skip_trimmed(self, trim: bool) -> None:
        self.pos += 4 if trim else 2
        if trim:
            while self.pos < len(self.text) and self.text[self.pos] in SPACES:
                self.pos += 1

    def comment(self, start: int) -> None:
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            raise self.fail("unclosed comment: '/*' has no matching '*/}}'", start)
        self.pos = end + 2
        at_delim, trim = self.right_delim()
        if not at_delim:
            raise self.fail(
                "comment ends before the closing delimiter: write '*/}}' or '*/ -}}'", start
            )
        self.skip_trimmed(trim)

    def action(self, start: int) -> None:
        first = len(self.tokens)
        self.tokens.append(Token("left", "{{", self.line(start)))
        depth = 0
        text = self.text
        while True:
            at_delim, trim = self.right_delim()
            if at_delim:
                if depth > 0:
                    raise self.fail("unclosed left paren '(' in action", start)
                src = text[start + 2 : self.pos]
                if src[:1] == "-" and src[1:2] in _SPACE_CHARS:
                    src = src[2:]
                self.tokens[first] = Token("left", "{{", self.line(start), src.strip())
                self.emit("right", self.pos, "}}")
                self.skip_trimmed(trim)
                return
            if self.pos >= len(text):
                raise self.fail("unclosed action: '{{' has no matching '}}'", start)
            ch = text[self.pos]
            begin = self.pos
            if ch in SPACES:
                while self.pos < len(text) and text[self.pos] in SPACES:
                    self.pos += 1
                if text.startswith("-}}", self.pos):
                    self.pos -= 1  # the last space belongs to the ' -}}' trim marker
                if self.pos > begin:
                    self.emit("space", begin, " ")
                continue
            self.pos += 1
            if ch == "(":
                depth += 1
                self.emit("lparen", begin)
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    raise self.fail("unexpected right paren ')'")
                self.emit("rparen", begin)
            elif ch == "|":
                self.emit("pipe", begin)
            elif ch == ",":
                self.emit("comma", begin)
            elif ch == "=":
                self.emit("assign", begin)
            elif ch == ":":
                if not text.startswith("=", self.pos):
                    raise self.fail("expected ':=' in action")
                self.pos += 1
                self.emit("declare", begin)
            elif ch in "\"`'":
                self.quoted(ch, begin)
            elif ch == "$":
                self.word("var", begin)
            elif ch == "." and not text[self.pos : self.pos + 1].isdigit():
                self.word("field", begin)
            elif ch in "+-." or ch.isdigit():
                self.number(begin)
            elif _is_alnum(ch):
                self.word("ident", begin)
            else:
                raise self.fail(f"unexpected {ch!r} in action")

    def at_terminator(self) -> bool:
        text, pos = self.text, self.pos
        return pos >= len(text) or text[pos] in _TERMINATORS or text.startswith("}}", pos)

    def word(self, kind: str, begin: int) -> None:
        text = self.text
        while self.pos < len(text) and _is_alnum(text[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            raise self.fail(f"bad character {text[self.pos]!r} after {text[begin:self.pos]!r}")
        value = text[begin : self.pos]
        if kind == "field" and value == ".":
            kind = "dot"
        elif kind == "ident" and value in KEYWORDS:
            kind = "keyword"
        elif kind == "ident" and value in ("true", "false"):
            kind = "bool"
        elif kind == "ident" and value == "nil":
            kind = "nil"
        self.emit(kind, begin)

    def number(self, begin: int) -> None:
        text = self.text
        pos = begin + (1 if text[begin] in "+-" else 0)
        digits = "0123456789_"
        if text.startswith("0", pos) and text[pos + 1 : pos + 2] in tuple("xXoObB"):
            digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[
                text[pos + 1].lower()
            ]
            pos += 2
        while pos < len(text) and text[pos] in digits:
            pos += 1
        if text.startswith(".", pos):
            pos += 1
            while pos < len(text) and text[pos] in digits:
                pos += 1
        exponent = "eE" if len(digits) == 11 else "pP" if len(digits) == 23 else ""
        if exponent and text[pos : pos + 1] in tuple(exponent):
            pos += 1
            if text[pos : pos + 1] in ("+", "-"):
                pos += 1
            while pos < len(text) and text[pos] in "0123456789_":
                pos += 1
        if text.startswith("i", pos):
            pos += 1
        self.pos = pos
        if pos < len(text) and _is_alnum(text[pos]):
            raise self.fail(f"bad number syntax: {text[begin:pos + 1]!r}")
        self.emit("number", begin)

    def quoted(self, quote: str, begin: int) -> None:
        text = self.text
        names = {'"': "quoted string", "`": "raw quoted string", "'": "character constant"}
        while True:
            if self.pos >= len(text) or (quote != "`" and text[self.pos] == "\n"):
                raise self.fail(f"unterminated {names[quote]}", begin)
            ch = text[self.pos]
            self.pos += 1
            if ch == "\\" and quote != "`":
                if self.pos >= len(text) or text[self.pos] == "\n":
                    raise self.fail(f"unterminated {names[quote]}", begin)
                self.pos += 1
            elif ch == quote:
                break
        self.emit({'"': "string", "`": "string", "'": "char"}[quote], begin)


def tokenize(text: str) -> list[Token]:
    """The template's tokens, ending with an `eof` token; raises `TemplateError` with a line."""
    return _Lexer(text).run()
