"""Executing a parsed template the way Go's text/template does (exec.go's rules).

Variables live on one stack, as in Go: `$x := v` pushes, `$x = v` sets the nearest `$x`, and an
`if`, `with` or `range` pops what was declared inside it at its `{{end}}` (a `range` body also
at the end of each iteration). After each stage of a pipeline a nil value becomes the invalid
value (`MISSING`), so `{{.key}}` prints `<no value>` both for a missing key and for a nil one,
while `print` receives them as nil and prints `<nil>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from apps.gotemplate.funcs import BUILTINS, SHORT_CIRCUIT, FuncError
from apps.gotemplate.gofmt import format_value, go_quote
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
from apps.gotemplate.values import MISSING, TemplateError, go_type, is_true, sorted_keys

__all__ = ["execute"]

Function = Callable[[str], str]
_NO_FINAL: Any = object()  # no value piped in from a previous pipeline stage


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Var:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value


def _shown(value: Any) -> str:
    return "no value" if value is MISSING else go_type(value)


class _Exec:
    def __init__(self, data: Any, functions: Mapping[str, Function]) -> None:
        self.functions = functions
        self.vars = [_Var("$", data)]
        self.out: list[str] = []
        self.line = 1
        self.src = ""

    def at(self, node: Action | Control) -> None:
        self.line, self.src = node.line, node.src

    def fail(self, message: str) -> TemplateError:
        return TemplateError(f"line {self.line}: {{{{{self.src}}}}}: {message}")

    def walk(self, dot: Any, nodes: Sequence[Node]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.out.append(node.text)
            elif isinstance(node, Action):
                self.at(node)
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decls:
                    self.out.append("<no value>" if value is MISSING else format_value(value))
            elif isinstance(node, Control):
                self.control(dot, node)
            elif isinstance(node, Break):
                raise _Break
            elif isinstance(node, Continue):
                raise _Continue

    def control(self, dot: Any, node: Control) -> None:
        mark = len(self.vars)
        try:
            self.at(node)
            value = self.pipeline(dot, node.pipe)
            if node.kind == "range":
                self.range(dot, node, value)
            elif is_true(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            else:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def range(self, dot: Any, node: Control, value: Any) -> None:
        items: list[tuple[Any, Any]]
        if isinstance(value, Mapping):
            items = [(key, value[key]) for key in sorted_keys(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif value is MISSING:
            items = []
        else:
            raise self.fail(f"range can't iterate over {format_value(value)}")
        if not items:
            self.walk(dot, node.else_body)
            return
        decls, mark = node.pipe.decls, len(self.vars)
        for index, elem in items:
            if node.pipe.is_assign:
                self.set_var(decls[0], index if len(decls) > 1 else elem)
                if len(decls) > 1:
                    self.set_var(decls[1], elem)
            elif decls:
                self.vars[-1].value = elem
                if len(decls) > 1:
                    self.vars[-2].value = index
            try:
                self.walk(elem, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]

    def var_value(self, name: str) -> Any:
        for var in reversed(self.vars):
            if var.name == name:
                return var.value
        raise self.fail(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for var in reversed(self.vars):
            if var.name == name:
                var.value = value
                return
        raise self.fail(f"undefined variable: {name}")

    def pipeline(self, dot: Any, pipe: Pipe) -> Any:
        value = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
            if value is None:
                value = MISSING  # Go unwraps a nil interface{} into the invalid value
        for name in pipe.decls:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append(_Var(name, value))
        return value

    def not_a_function(self, args: Sequence[Arg], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.fail("can't give an argument to a value that is not a function")

    def command(self, dot: Any, cmd: Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, Field):
            return self.fields(dot, first.names, cmd.args, final)
        if isinstance(first, Chain):
            return self.chain(dot, first, cmd.args, final)
        if isinstance(first, Identifier):
            return self.call(dot, first.name, cmd.args[1:], final)
        if isinstance(first, Variable):
            value = self.var_value(first.name)
            if first.names:
                return self.fields(value, first.names, cmd.args, final)
            self.not_a_function(cmd.args, final)
            return value
        self.not_a_function(cmd.args, final)
        if isinstance(first, Pipe):
            return self.pipeline(dot, first)
        if isinstance(first, Nil):
            raise self.fail("nil is not a command")
        return self.arg(dot, first)

    def fields(self, receiver: Any, names: Sequence[str], args: Sequence[Arg], final: Any) -> Any:
        for position, name in enumerate(names):
            last = position == len(names) - 1
            has_args = last and (len(args) > 1 or final is not _NO_FINAL)
            receiver = self.field(receiver, name, has_args)
        return receiver

    def field(self, receiver: Any, name: str, has_args: bool) -> Any:
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.fail(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.fail(f"{name} is not a method but has arguments (a map has no methods)")
            return receiver.get(name, MISSING)
        raise self.fail(f"can't evaluate field {name} in type {go_type(receiver)}")

    def chain(self, dot: Any, chain: Chain, args: Sequence[Arg], final: Any) -> Any:
        if isinstance(chain.node, Nil):
            raise self.fail("indirection through explicit nil")
        return self.fields(self.arg(dot, chain.node), chain.names, args, final)

    def arg(self, dot: Any, node: Arg) -> Any:
        """An argument's value, nil and missing kept apart (Go's reflect.Value arguments)."""
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Nil):
            return None
        if isinstance(node, Literal | Bool):
            return node.value
        if isinstance(node, Field):
            return self.fields(dot, node.names, (node,), _NO_FINAL)
        if isinstance(node, Variable):
            return self.fields(self.var_value(node.name), node.names, (node,), _NO_FINAL)
        if isinstance(node, Pipe):
            return self.pipeline(dot, node)
        if isinstance(node, Identifier):
            return self.call(dot, node.name, (), _NO_FINAL)
        return self.chain(dot, node, (node,), _NO_FINAL)

    def arity(self, name: str, count: int, low: int, high: int | None) -> None:
        if high is None and count < low:
            raise self.fail(f"wrong number of args for {name}: want at least {low} got {count}")
        if high is not None and not low <= count <= high:
            raise self.fail(f"wrong number of args for {name}: want {low} got {count}")

    def call(self, dot: Any, name: str, nodes: Sequence[Arg], final: Any) -> Any:
        count = len(nodes) + (final is not _NO_FINAL)
        if name in SHORT_CIRCUIT:
            self.arity(name, count, 1, None)
            value: Any = MISSING
            for node in nodes:
                value = self.arg(dot, node)
                if is_true(value) == (name == "or"):
                    return value
            return value if final is _NO_FINAL else final
        builtin = BUILTINS.get(name)
        if builtin is None:
            self.arity(name, count, 1, 1)
        else:
            self.arity(name, count, builtin.min_args, builtin.max_args)
        args = [self.arg(dot, node) for node in nodes]
        if final is not _NO_FINAL:
            args.append(final)
        if builtin is None:
            return self.call_function(name, args[0])
        if builtin.nil_args:
            args = [None if arg is MISSING else arg for arg in args]
        try:
            return builtin.call(*args)
        except (FuncError, TemplateError) as exc:  # TemplateError: an unsupported printf verb
            raise self.fail(f"error calling {name}: {exc}") from exc

    def call_function(self, name: str, key: Any) -> str:
        """A caller-supplied function such as `secret`: one string in, one string out."""
        if not isinstance(key, str):
            raise self.fail(f"{name} takes a string, not {_shown(key)}")
        try:
            result = self.functions[name](key)
        except Exception as exc:  # the caller's refusal (not permitted, not set) becomes located
            raise TemplateError(f"line {self.line}: {{{{{name} {go_quote(key)}}}}}: {exc}") from exc
        if not isinstance(result, str):
            raise self.fail(f"{name} returned a {type(result).__name__}, not a string")
        return result


def execute(tree: Sequence[Node], data: Any, functions: Mapping[str, Function]) -> str:
    """Run a parsed template on `data` (dot and `$`); raises `TemplateError` with the line."""
    run = _Exec(data, functions)
    run.walk(data, tree)
    return "".join(run.out)
