"""Go's fmt for template values: `%v` printing, `print`, `println` and `printf`.

Output matches Go (checked against Go 1.19): strings print raw, maps as `map[k:v]` with sorted
keys, lists as `[a b]`, nil as `<nil>`, floats in `%g`'s shortest form (`1e+06`, `0.5`). A verb
that does not fit its operand prints Go's `%!d(string=x)`; a missing operand `%!d(MISSING)`;
extra operands `%!(EXTRA int=1)`, a letter that is no verb `%!z(int=1)`. The Go verbs ace does
not implement (%U %O %p, %x of a float), `%#v`, `*` widths and `[n]` argument indexes raise
`TemplateError` instead of printing something Go would not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from apps.gotemplate.values import MISSING, TemplateError, go_type, is_nil, sorted_keys

__all__ = ["PRINTF_VERBS", "format_value", "go_quote", "sprint", "sprintf", "sprintln"]

PRINTF_VERBS = "vTtdbocqxXeEfFgGs%"
_GO_ONLY_VERBS = "UOp"  # verbs Go implements and ace does not: refused, not misprinted
_FLAGS = "#0+- "


@dataclass(frozen=True)
class _Spec:
    verb: str = "v"
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None


_PLAIN = _Spec()


def _pad(text: str, spec: _Spec) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    return ("0" if spec.zero else " ") * fill + text


def _escape_rune(ch: str, quote: str, ascii_only: bool) -> str:
    if ch in (quote, "\\"):
        return "\\" + ch
    code = ord(ch)
    if (code < 0x80 or not ascii_only) and ch.isprintable():
        return ch
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v"}
    if ch in named:
        return named[ch]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def go_quote(text: str, quote: str = '"', ascii_only: bool = False) -> str:
    """Go's strconv.Quote (or QuoteRune with quote="'"; `ascii_only` for the ToASCII forms)."""
    return quote + "".join(_escape_rune(ch, quote, ascii_only) for ch in text) + quote


def _can_backquote(text: str) -> bool:
    return not any(
        (ch < " " and ch != "\t") or ch in "`\x7f\ufeff" or 0xD800 <= ord(ch) <= 0xDFFF
        for ch in text
    )


def _shortest(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'g', -1, 64): `%v` of a float64."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    _sign, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    point = len(digit_tuple) + exponent  # digits before the decimal point
    sign = "-" if value < 0 else ""
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _float(value: float, spec: _Spec) -> str:
    verb = "g" if spec.verb == "v" else spec.verb
    if spec.sharp:
        raise TemplateError(f"printf %#{spec.verb} is not supported")
    if math.isinf(value) or math.isnan(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        if spec.plus and text == "NaN":
            text = "+NaN"
        return _pad(text, replace(spec, zero=False))
    if verb in "gG" and spec.prec is None:
        num = _shortest(value)
        num = num.upper() if verb == "G" else num
    else:
        prec = 6 if spec.prec is None else spec.prec
        num = format(value, f".{prec}{verb}")
    if not num.startswith("-"):
        num = ("+" if spec.plus else " " if spec.space else "") + num
    if num[:1] in "+- " and spec.zero and spec.width and not spec.minus:
        return num[0] + _pad(num[1:], replace(spec, width=spec.width - 1))
    return _pad(num, spec)


def _integer(value: int, spec: _Spec) -> str:
    verb = spec.verb
    if verb in "cq":
        char = chr(value) if 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else "\ufffd"
        if verb == "c":
            return _pad(char, spec)
        return _pad(go_quote(char, "'", ascii_only=spec.plus), spec)
    base = {"b": 2, "o": 8, "x": 16, "X": 16}.get(verb, 10)
    digits = format(abs(value), {2: "b", 8: "o", 16: "x", 10: "d"}[base])
    digits = digits.upper() if verb == "X" else digits
    prec = spec.prec
    if prec == 0 and value == 0:
        return _pad("", replace(spec, zero=False))
    if prec is None and spec.zero and spec.width is not None and not spec.minus:
        prec = spec.width - (1 if value < 0 or spec.plus or spec.space else 0)
    if prec is not None:
        digits = digits.rjust(prec, "0")
    if spec.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if verb == "X" else "0x") + digits
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + digits, replace(spec, zero=False))


def _string(value: str, spec: _Spec) -> str:
    verb = spec.verb
    if verb in "xX":
        data = value.encode("utf-8", "surrogateescape")
        if spec.prec is not None:
            data = data[: spec.prec]
        prefix = ("0X" if verb == "X" else "0x") if spec.sharp else ""
        hexes = [format(byte, "02X" if verb == "X" else "02x") for byte in data]
        if spec.space:
            text = " ".join(prefix + h for h in hexes)
        else:
            text = prefix + "".join(hexes) if hexes else ""
        return _pad(text, spec)
    if spec.prec is not None:
        value = value[: spec.prec]
    if verb == "q":
        if spec.sharp and _can_backquote(value):
            return _pad(f"`{value}`", spec)
        return _pad(go_quote(value, ascii_only=spec.plus), spec)
    return _pad(value, spec)


_VERBS_BY_KIND = {
    "bool": "tv",
    "int": "vdbocqxX",
    "float64": "vgGeEfF",
    "string": "vsqxX",
}


def _bad_verb(value: Any, spec: _Spec) -> str:
    if is_nil(value):
        return f"%!{spec.verb}(<nil>)"
    shown = _arg(value, replace(spec, verb="v"), depth=1)
    return f"%!{spec.verb}({go_type(value)}={shown})"


def _arg(value: Any, spec: _Spec, depth: int = 0) -> str:
    """Go's printArg/printValue: one operand under one verb."""
    if is_nil(value):
        if depth > 0 or spec.verb in "vT":
            return _pad("<nil>", spec)
        return _bad_verb(value, spec)
    if spec.verb == "T":
        return _pad(go_type(value), spec)
    if isinstance(value, Mapping):
        inner = " ".join(
            f"{_arg(key, spec, depth + 1)}:{_arg(value[key], spec, depth + 1)}"
            for key in sorted_keys(value)
        )
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_arg(item, spec, depth + 1) for item in value) + "]"
    kind = go_type(value)
    if kind == "float64" and spec.verb in "xXb":
        raise TemplateError(f"printf %{spec.verb} of a float64 (hex floats) is not supported")
    if spec.verb not in _VERBS_BY_KIND.get(kind, ""):
        return _bad_verb(value, spec)
    if isinstance(value, bool):
        return _pad("true" if value else "false", spec)
    if isinstance(value, int):
        return _integer(value, spec)
    if isinstance(value, float):
        return _float(value, spec)
    return _string(value, spec)


def format_value(value: Any) -> str:
    """One value as Go's fmt.Sprint prints it (`%v`)."""
    return _arg(None if value is MISSING else value, _PLAIN)


def sprint(args: Sequence[Any]) -> str:
    """fmt.Sprint: spaces between operands when neither is a string."""
    out: list[str] = []
    previous_string = False
    for number, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if number > 0 and not is_string and not previous_string:
            out.append(" ")
        out.append(format_value(arg))
        previous_string = is_string
    return "".join(out)


def sprintln(args: Sequence[Any]) -> str:
    """fmt.Sprintln: spaces between all operands, then a newline."""
    return " ".join(format_value(arg) for arg in args) + "\n"


def _number(fmt: str, pos: int) -> tuple[int | None, int]:
    start = pos
    while pos < len(fmt) and fmt[pos].isdigit():
        pos += 1
    return (int(fmt[start:pos]) if pos > start else None), pos


def _directive(fmt: str, pos: int) -> tuple[_Spec, int]:
    """Parse the flags, width and precision after a '%'; `pos` ends on the verb."""
    flags = ""
    while pos < len(fmt) and fmt[pos] in _FLAGS:
        flags += fmt[pos]
        pos += 1
    width, pos = _number(fmt, pos)
    prec = None
    if pos < len(fmt) and fmt[pos] == ".":
        prec, pos = _number(fmt, pos + 1)
        prec = prec or 0
    if pos < len(fmt) and fmt[pos] in "*[":
        raise TemplateError(
            f"printf format {fmt!r}: '*' widths and [n] argument indexes are not supported"
        )
    spec = _Spec(
        minus="-" in flags, plus="+" in flags, sharp="#" in flags, space=" " in flags,
        zero="0" in flags and "-" not in flags, width=width, prec=prec,
    )
    return spec, pos


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf for the verbs in PRINTF_VERBS (nil and missing operands print `<nil>`)."""
    out: list[str] = []
    pos = 0
    used = 0
    while pos < len(fmt):
        percent = fmt.find("%", pos)
        if percent < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:percent])
        spec, pos = _directive(fmt, percent + 1)
        if pos >= len(fmt):
            out.append("%!(NOVERB)")
            break
        verb = fmt[pos]
        pos += 1
        if verb == "%":
            out.append("%")
            continue
        if verb in _GO_ONLY_VERBS:
            supported = " ".join(f"%{v}" for v in PRINTF_VERBS.replace("%", "")) + " %%"
            raise TemplateError(f"printf verb %{verb} is not supported (supported: {supported})")
        if verb == "v" and spec.sharp:
            raise TemplateError("printf %#v (Go-syntax values) is not supported")
        spec = replace(spec, verb=verb, plus=spec.plus and verb != "v")
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = None if args[used] is MISSING else args[used]
        out.append(_arg(arg, spec) if verb in PRINTF_VERBS else _bad_verb(arg, spec))
        used += 1
    if used < len(args):
        extra = [
            "<nil>" if is_nil(arg) else f"{go_type(arg)}={_arg(arg, _PLAIN)}"
            for arg in args[used:]
        ]
        out.append(f"%!(EXTRA {', '.join(extra)})")
    return "".join(out)
