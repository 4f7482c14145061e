"""ace's Go text/template subset renders what Go's text/template renders.

Every expected output in CASES is what Go 1.19's text/template printed for the same template
and data (map[string]any data, `params` as map[string]string, `secret` returning "s3cr3t-KEY"),
except the ones marked "Go 1.23" (`else with`, newer than 1.19).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from apps.gotemplate import StringMap, TemplateError, render
from apps.secret_template import render_template


def _secret(key: str) -> str:
    if key.startswith("BAD"):
        raise PermissionError("not permitted")
    return "s3cr3t-" + key


def P(**params: str) -> dict[str, Any]:
    """Template data as OpenRun passes it: {"params": map[string]string}."""
    return {"params": StringMap(params)}


STREAMLIT_SECRETS = '{{range $k, $v := .params}}{{- $k -}}="{{- $v -}}"\n{{end}}'

CASES: list[tuple[str, str, Any, str]] = [
    # text, trim markers, comments
    ("text only", "plain {text} } {", {}, "plain {text} } {"),
    ("trim both", "a  {{- 1 -}}  b", {}, "a1b"),
    ("trim eats newlines", "a \n\t{{- 1 -}}\n\n b", {}, "a1b"),
    ("trim tab and newline markers", "a\t{{-\t1\t-}}\tb|a {{-\n1\n-}} b", {}, "a1b|a1b"),
    ("minus without space is a number", "a {{-3}} b", {}, "a -3 b"),
    ("right trim only", "a {{ 1 -}} \n b", {}, "a 1b"),
    ("trim markers mixed", 'a  {{- 1 -}}  b\n {{-2}} {{- /* c */ -}}\n c {{/* d */}} e {{- "x"}}',
     {}, "a1b\n -2c  ex"),
    ("comment", "a{{/* anything {{ }} \n here */}}b", {}, "ab"),
    ("comment left trim", "a \n{{- /* x */}} b", {}, "a b"),
    ("comment right trim", "a {{/* x */ -}} \n b", {}, "a b"),
    ("delimiters inside strings", '{{"}}"}}{{`{{`}}', {}, "}}{{"),
    ("raw string spans lines", "{{`a\nb`}}", {}, "a\nb"),
    ("newlines inside an action", "{{print\n1\n2}}", {}, "1 2"),
    # fields and variables
    ("param field", "{{.params.user}}", P(user="ann"), "ann"),
    ("dot", "{{.}}", "str", "str"),
    ("chained map fields", "{{.a.b.c}}", {"a": {"b": {"c": "deep"}}}, "deep"),
    ("dollar field", "{{$.a.b}}", {"a": {"b": "c"}}, "c"),
    ("variable field", "{{$m := .m}}{{$m.a}}", {"m": {"a": "A"}}, "A"),
    ("paren chain", '{{(index .m "a").b}} {{($x := .m).a}}', {"m": {"a": {"b": "c"}}},
     "c map[b:c]"),
    ("declare prints nothing", "{{$x := 1}}[{{$x}}]", {}, "[1]"),
    ("assign updates outer variable", "{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", {}, "2"),
    ("shadowing in a block", "{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", {}, "21"),
    ("range assigns outer variable", "{{$x := 0}}{{range .l}}{{$x = .}}{{end}}{{$x}}",
     {"l": [1, 2, 3]}, "3"),
    ("dollar inside range", "{{range .l}}{{$.n}}{{end}}", {"l": [1, 2], "n": "N"}, "NN"),
    ("declaration in paren", "{{print ($x := 1)}}{{$x}}", {}, "11"),
    ("if pipeline variable in else", "{{if $x := .a}}{{$x}}{{else}}[{{$x}}]{{end}}", {"a": 0},
     "[0]"),
    ("dollar can be redeclared", "{{$ := 1}}{{$}}", {}, "1"),
    # missing keys and nil
    ("missing param prints no value", "{{.params.nope}}", P(), "<no value>"),
    ("missing top-level key", "{{.nope}}", {}, "<no value>"),
    ("missing chain", "{{.a.b.c}}", {}, "<no value>"),
    ("nil value prints no value", "{{.a}}", {"a": None}, "<no value>"),
    ("variable holding missing", "{{$x := .a}}{{$x.b}}", {"a": None}, "<no value>"),
    ("index missing param is empty", '[{{index .params "nope"}}]', P(), "[]"),
    ("index missing any-map key", '{{index . "nope"}}', {}, "<no value>"),
    ("missing passed to print", "{{print .nope}} {{print .a .b}}", {"a": None},
     "<nil> <nil> <nil>"),
    ("missing compared", '{{eq .params.x ""}} {{eq (index .params "x") ""}}', P(), "false true"),
    ("nil list element", "{{range .l}}[{{.}}]{{end}}", {"l": [None, 1]}, "[<no value>][1]"),
    # range
    ("range map sorted", "{{range $k, $v := .m}}{{$k}}={{$v}};{{end}}",
     {"m": {"b": 2, "a": 1, "c": 3}}, "a=1;b=2;c=3;"),
    ("range map one variable", "{{range $v := .m}}{{$v}}{{end}}", {"m": {"b": 2, "a": 1}}, "12"),
    ("range map dot", "{{range .params}}{{.}},{{end}}", P(z="1", a="2"), "2,1,"),
    ("range list index", "{{range $i, $e := .l}}{{$i}}={{$e}};{{end}}", {"l": ["a", "b"]},
     "0=a;1=b;"),
    ("range list dot", "{{range .l}}<{{.}}>{{end}}", {"l": ["x", "y"]}, "<x><y>"),
    ("range empty list else", "{{range .l}}x{{else}}empty{{end}}", {"l": []}, "empty"),
    ("range missing else", "{{range .nope}}x{{else}}none{{end}}", {}, "none"),
    ("range empty map else", "{{range .params}}x{{else}}no params{{end}}", P(), "no params"),
    ("range assign form", "{{$i := 0}}{{range $i = .l}}{{end}}{{$i}}", {"l": [1, 2]}, "2"),
    ("dot restored after range", "{{range .l}}{{end}}{{.n}}", {"l": [1], "n": "N"}, "N"),
    ("break and continue",
     "{{range .l}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}",
     {"l": [1, 2, 3, 4]}, "2"),
    ("break leaves inner range only", "{{range .l}}{{range .}}{{break}}{{end}}{{.}}{{end}}",
     {"l": [[1], [2]]}, "[1][2]"),
    ("streamlit secrets template", STREAMLIT_SECRETS,
     P(zeta="1", alpha="two words", Beta="x"), 'Beta="x"\nalpha="two words"\nzeta="1"\n'),
    # if / with
    ("else if chain", "{{if eq .n 1}}one{{else if eq .n 2}}two{{else}}many{{end}}", {"n": 2},
     "two"),
    ("else if falls to else", "{{if eq .n 1}}one{{else if eq .n 2}}two{{else}}many{{end}}",
     {"n": 7}, "many"),
    ("if missing param", "{{if .params.x}}y{{else}}n{{end}}", P(), "n"),
    ("with sets dot", "{{with .a}}[{{.}}]{{else}}none{{end}}", {"a": "v"}, "[v]"),
    ("with empty takes else", "{{with .nope}}x{{else}}none{{end}}", {}, "none"),
    ("with variable", "{{with $x := .a}}{{$x}}{{end}}", {"a": "v"}, "v"),
    ("else with (Go 1.23)", "{{with .nope}}x{{else with .a}}{{.}}{{end}}", {"a": "v"}, "v"),
    ("nested with in else", "{{with 0}}a{{else}}{{with 1}}b{{end}}{{end}}", {}, "b"),
    ("truthiness table", "{{range .vals}}{{if .}}T{{else}}F{{end}}{{end}}",
     {"vals": [0, 1, "", "a", [], [0], {}, {"a": 1}, None, False, True, 0.0, 0.5]},
     "FTFTFTFTFFTFT"),
    # pipelines
    ("pipeline last argument", '{{"x" | printf "%s-%s" "a"}}', {}, "a-x"),
    ("pipeline into comparison", "{{1 | eq 1}} {{.a | len}}", {"a": "abc"}, "true 3"),
    ("pipeline into and/or", '{{1 | and 2}} {{0 | or 0}} {{"x" | and 1}}', {}, "1 0 x"),
    ("parenthesised argument", '{{printf "%d items" (len .l)}}', {"l": [1, 2]}, "2 items"),
    # literals
    ("numbers", "{{0x10}} {{0o17}} {{017}} {{0b11}} {{1_000}} {{-5}} {{+5}} {{1e3}} {{.5}}", {},
     "16 15 15 3 1000 -5 5 1000 0.5"),
    ("hex float", "{{0x1p-2}}", {}, "0.25"),
    ("characters", "{{'a'}} {{'\\''}} {{'é'}} {{printf \"%c\" 'x'}}", {}, "97 39 233 x"),
    ("string escapes", '{{"a\\tb\\x41\\101\\u00e9\\U0001F600"}}', {}, "a\tbAAé😀"),
    ("booleans", "{{true}} {{false}}", {}, "true false"),
    ("floats print like %g", "{{1e21}} {{100000.0}} {{1000000.0}} {{0.0001}} {{0.00001}} {{-2.5}}",
     {}, "1e+21 100000 1e+06 0.0001 1e-05 -2.5"),
    # builtins
    ("and or not", '{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} [{{or 0 ""}}] {{not 0}} {{not "a"}}',
     {}, "0 2 x [] true false"),
    ("and or with missing", "{{not .nope}} {{and 1 .nope}} {{or .nope 0}}", {},
     "true <no value> 0"),
    ("eq several arguments", '{{eq 1 2 3 1}} {{eq "a" "b"}} {{eq 2 3 4}}', {}, "true false false"),
    ("eq nil", "{{eq .a nil}} {{eq .m nil}}", {"a": None, "m": {}}, "true false"),
    ("ne", '{{ne 1 2}} {{ne "a" "a"}}', {}, "true false"),
    ("ordering", '{{lt 1 2}} {{lt "b" "a"}} {{le 2 2}} {{gt 1.5 1.2}} {{ge "a" "a"}}', {},
     "true false true true true"),
    ("len", '{{len .l}} {{len "é"}} {{len .m}} {{len .params}}', {"l": [1, 2], "m": {"a": 1},
     "params": StringMap(a="b")}, "2 2 1 1"),
    ("index", '{{index .l 1}} {{index .m "a" 0}} {{index "abc" 1}} {{index .l}}',
     {"l": [1, 2], "m": {"a": ["x"]}}, "2 x 98 [1 2]"),
    ("index param", '{{index .params "my-key"}}', P(**{"my-key": "v"}), "v"),
    ("slice", '{{slice "abcde" 1 3}} {{slice .l 1}} {{slice "abc"}}', {"l": [1, 2, 3]},
     "bc [2 3] abc"),
    ("print spacing", '{{print 1 2 "a" 3 "b" "c" nil 4 true}}', {}, "1 2a3bc<nil> 4 true"),
    ("print floats", '{{print 1.0 2 "x" 3.5}}', {}, "1 2x3.5"),
    ("println", '{{println 1 "a" 2}}', {}, "1 a 2\n"),
    ("html", "{{html \"<a href=\\\"x\\\">&'\"}} {{html 1 2}}", {},
     "&lt;a href=&#34;x&#34;&gt;&amp;&#39; 1 2"),
    ("html of missing", "{{html .nope}}|{{html 1 .nope 2}}", {},
     "&lt;no value&gt;|1&lt;no value&gt;2"),
    ("js", "{{js \"a'b\\\"c<d>&=\\\\ é\\t\"}} {{js 1 \"a\" 2}}", {},
     "a\\'b\\\"c\\u003Cd\\u003E\\u0026\\u003D\\\\ é\\u0009 1a2"),
    ("js unicode", '{{js "\\u2028😀\\u0000`"}}', {}, "\\u2028😀\\u0000`"),
    ("urlquery", '{{urlquery "a b&c=d/é~_-."}} {{urlquery .l}}', {"l": [1, "a b"]},
     "a+b%26c%3Dd%2F%C3%A9~_-. %5B1+a+b%5D"),
    ("secret", '{{secret "K"}} {{"K2" | secret}}', {}, "s3cr3t-K s3cr3t-K2"),
    # printing values and printf
    ("values print like %v", "{{.l}} {{.m}} {{.params}}",
     {"l": [None, 1, "a", 1.5, True, [1, 2]], "m": {"b": 1, "a": None, "c": {"z": "y"}},
      "params": StringMap(q="1", p="2")},
     "[<nil> 1 a 1.5 true [1 2]] map[a:<nil> b:1 c:map[z:y]] map[p:2 q:1]"),
    ("printf verbs", '{{printf "%d %v %f %.2f %e %g %t %c %q %o %b %x %T %T %T %T %T" 42 1.5 1.5 '
     '2.345 1234.5 0.000012 true 65 66 8 5 255 1 1.0 "a" .l .m}}', {"l": [], "m": {}},
     "42 1.5 1.500000 2.35 1.234500e+03 1.2e-05 true A 'B' 10 101 ff int float64 string "
     "[]interface {} map[string]interface {}"),
    ("printf widths and flags",
     '{{printf "[%5s][%-5s][%05d][%5.1f][%05s][%x][%X][% x][%#x][%q][%+q][%#q]" "ab" "ab" 42 '
     '3.14159 "ab" "hi" "hi" "hi" "hi" "a\\"b\\n\\u00e9" "é" "a`b"}}', {},
     '[   ab][ab   ][00042][  3.1][000ab][6869][6869][68 69][0x6869]'
     '["a\\"b\\né"]["\\u00e9"]["a`b"]'),
    ("printf numeric flags",
     '{{printf "%+d % d %+.1f %08.3f %-8.2f| %x %X %o %#o %#b" 5 5 2.25 -3.14159 1.5 -255 255 8 8 '
     "5}}", {}, "+5  5 +2.2 -003.142 1.50    | -ff FF 10 010 0b101"),
    ("printf precision",
     '{{printf "%.2s|%.1q|%5.1s|%.0d|%.3d|%6.3d|%-06d|%06s" "héllo" "abc" "xyz" 0 7 -7 3 "é"}}',
     {}, 'hé|"a"|    x||007|  -007|3     |00000é'),
    ("printf floats", '{{printf "%g %.3g %G %e %E %.0f %v %v" 123456789.0 3.14159 1e-10 0.0 1e100 '
     "2.5 1e-5 -0.0}}", {}, "1.23456789e+08 3.14 1E-10 0.000000e+00 1.000000E+100 2 1e-05 -0"),
    ("printf percent", '{{printf "100%% %5%|"}}', {}, "100% %|"),
    ("printf lists and maps", '{{printf "%s|%d|%q|%x|%v|%5d" .l .n .l .l .m .n}}',
     {"l": ["a", "b"], "n": [1, 2], "m": {"a": [1]}},
     '[a b]|[1 2]|["a" "b"]|[61 62]|map[a:[1]]|[    1     2]'),
    ("printf wrong operand", '{{printf "%d|%s|%d" "x" 3}}', {},
     "%!d(string=x)|%!s(int=3)|%!d(MISSING)"),
    ("printf extra operands", '{{printf "%d" 1 2 "a"}}', {}, "1%!(EXTRA int=2, string=a)"),
    ("printf nil operands", '{{printf "%s %v %d" nil .nope .nope}}', {},
     "%!s(<nil>) <nil> %!d(<nil>)"),
    ("printf no verb", '{{printf "a%"}}', {}, "a%!(NOVERB)"),
    ("printf letters that are no verb", '{{printf "%z %!" 1}}', {}, "%!z(int=1) %!!(MISSING)"),
    ("printf quoting", '{{printf "%q|%+q|%#q|%#q" "\\a\\b\\x7f\\u2028\\U0001F600\\x01" "😀\\t" '
     '"a\\tb" "a\\nb"}}', {}, '"\\a\\b\\x7f\\u2028😀\\x01"|"\\U0001f600\\t"|`a\tb`|"a\\nb"'),
    ("printf bad verb keeps width", '{{printf "%5d|%-5d|%x" "a" nil true}}', {},
     "%!d(string=    a)|%!d(<nil>)|%!x(bool=true)"),
    ("printf type names", '{{printf "%T %T %T" nil .params .l}}',
     {"params": StringMap(a="b"), "l": [[1]]}, "<nil> map[string]string []interface {}"),
    ("printf element widths", '{{printf "%3v|%-3s|" .l .l}}', {"l": ["a", 1]},
     "[  a   1]|[a   %!s(int=1  )]|"),
    ("printf float verbs on ints", '{{printf "%e %f %g" 1 2 3}}', {},
     "%!e(int=1) %!f(int=2) %!g(int=3)"),
]


@pytest.mark.parametrize(
    ("template", "data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_renders_like_go(template: str, data: Any, expected: str) -> None:
    """The template renders exactly what Go's text/template prints for the same data."""
    assert render(template, data, {"secret": _secret}) == expected


ERRORS: list[tuple[str, str, Any, str]] = [
    ("unclosed action", "x\n{{ .a", {}, "line 2: unclosed action"),
    ("unclosed if", "x\n{{if .a}}\nb\n", {}, "line 2: unclosed {{if}}: no {{end}}"),
    ("unclosed range inside if", "{{if 1}}\n{{range .l}}\n{{end}}", {}, "line 1: unclosed {{if}}"),
    ("unclosed comment", "x\n{{/* c ", {}, "line 2: unclosed comment"),
    ("comment not at delimiter", "{{/* c */ }}", {}, "line 1: comment ends before the closing"),
    ("unclosed paren", "{{print (1}}", {}, "line 1: unclosed left paren"),
    ("stray right paren", "{{print 1)}}", {}, "line 1: unexpected right paren"),
    ("unterminated string", '\n\n{{"abc}}', {}, "line 3: unterminated quoted string"),
    ("stray end", "a\n{{end}}", {}, "line 2: unexpected {{end}}"),
    ("stray else", "{{else}}", {}, "line 1: unexpected {{else}}"),
    ("second else", "{{if 1}}a{{else}}b{{else}}c{{end}}", {}, "a second {{else}} in one {{if}}"),
    ("else if in range", "{{range .l}}a{{else if 1}}b{{end}}", {"l": []},
     "{{else if}} is only allowed in {{if}}, not in {{range}}"),
    ("unknown function", "a\nb\n{{ .params.a | upper }}", P(a="1"),
     'line 3: function "upper" is not supported (supported: and, eq, ge, gt, html, index, js, le, '
     "len, lt, ne, not, or, print, printf, println, secret, slice, urlquery)"),
    ("define", '{{define "x"}}y{{end}}', {}, "line 1: {{define}} is not supported"),
    ("template", '\n{{template "x"}}', {}, "line 2: {{template}} is not supported"),
    ("block", '{{block "x" .}}y{{end}}', {}, "line 1: {{block}} is not supported"),
    ("method call", "{{.a.Method 1}}", {"a": {}},
     "line 1: {{.a.Method 1}}: Method is not a method"),
    ("undefined variable", "{{$x}}", {}, 'line 1: undefined variable "$x"'),
    ("variable out of scope", "{{if true}}{{$x := 1}}{{end}}\n{{$x}}", {},
     'line 2: undefined variable "$x"'),
    ("range variable out of scope", "{{range $i, $e := .l}}{{end}}{{$i}}", {"l": [1]},
     'undefined variable "$i"'),
    ("assign undeclared", "{{$x = 1}}", {}, 'undefined variable "$x" assigned with "="'),
    ("break outside range", "{{if 1}}{{break}}{{end}}", {}, "line 1: {{break}} outside {{range}}"),
    ("constant pipeline stage", "{{1 | 2}}", {}, "line 1: pipeline stage 2 is a constant"),
    ("empty action", "{{}}", {}, "line 1: missing value for command"),
    ("operands need spaces", '{{print "a""b"}}', {}, "unexpected '\"b\"' in operand"),
    ("call syntax", "{{len(.a)}}", {"a": "x"}, "unexpected '(' in operand"),
    ("bad escape", '{{"\\q"}}', {}, "line 1: invalid escape '\\q'"),
    ("integer overflow", "{{99999999999999999999}}", {}, "line 1: integer overflow"),
    ("complex number", "{{1i}}", {}, "line 1: complex number 1i is not supported"),
    ("nil command", "{{nil}}", {}, "line 1: {{nil}}: nil is not a command"),
    ("field on string", "\n{{.params.a.b}}", P(a="x"),
     "line 2: {{.params.a.b}}: can't evaluate field b in type string"),
    ("field of nil", "{{.a.b}}", {"a": None}, "nil pointer evaluating interface {}.b"),
    ("range over string", '{{range "abc"}}x{{end}}', {}, "range can't iterate over abc"),
    ("eq incompatible", "{{eq 1 1.0}}", {}, "error calling eq: incompatible types for comparison"),
    ("eq of lists", "{{eq .a .b}}", {"a": [1], "b": [1]}, "non-comparable type []interface {}"),
    ("lt of bools", "{{lt true false}}", {}, "error calling lt: invalid type for comparison"),
    ("wrong arity", "{{not 1 2}}", {}, "wrong number of args for not: want 1 got 2"),
    ("and without arguments", "{{and}}", {}, "wrong number of args for and: want at least 1 got 0"),
    ("index out of range", "{{index .l 5}}", {"l": [1]},
     "error calling index: index out of range: 5"),
    ("index key type", "{{index .m 1}}", {"m": {}}, "value has type int; should be string"),
    ("len of int", "{{len 3}}", {}, "error calling len: len of type int"),
    ("len of missing", "{{len .nope}}", {}, "error calling len: len of untyped nil"),
    ("slice splits a character", '{{slice "é" 0 1}}', {}, "splits a multi-byte UTF-8 character"),
    ("piped into a non-function", "{{1 | .a}}", {"a": "x"}, "a is not a method but has arguments"),
    ("unsupported printf verb", '{{printf "%U" 65}}', {}, "printf verb %U is not supported"),
    ("printf star width", '{{printf "%*d" 5 1}}', {}, "'*' widths and [n] argument indexes"),
    ("printf Go syntax", '{{printf "%#v" 1}}', {},
     "printf %#v (Go-syntax values) is not supported"),
    ("secret refused", 'x\n{{secret "BAD"}}', {}, 'line 2: {{secret "BAD"}}: not permitted'),
    ("secret needs a string", "{{secret 1}}", {},
     "line 1: {{secret 1}}: secret takes a string, not int"),
    ("secret of missing", "{{secret .nope}}", {}, "secret takes a string, not no value"),
    ("secret arity", '{{secret "A" "B"}}', {}, "wrong number of args for secret: want 1 got 2"),
]


@pytest.mark.parametrize(
    ("template", "data", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_line_and_construct(template: str, data: Any, message: str) -> None:
    """Malformed or unsupported templates raise TemplateError naming the line and the construct."""
    with pytest.raises(TemplateError) as info:
        render(template, data, {"secret": _secret})
    assert message in str(info.value)


def test_render_template_streamlit_secrets_file() -> None:
    """OpenRun's python-streamlit secrets.toml.tmpl writes one name="value" line per param."""
    params = {"app_name": "Streamlit App", "port": "8501", "app_file": "streamlit_app.py"}
    assert render_template(STREAMLIT_SECRETS, params) == (
        'app_file="streamlit_app.py"\napp_name="Streamlit App"\nport="8501"\n'
    )


def test_render_template_secret_lookup() -> None:
    """render_template resolves secret through the caller's lookup; without one it says why."""
    text = 'k = "{{ secret "API_KEY" }}"\nfile = "{{ .params.f }}"\n'
    assert render_template(text, {"f": "x.py"}, lambda key: key.lower()) == (
        'k = "api_key"\nfile = "x.py"\n'
    )
    with pytest.raises(TemplateError, match='line 1: {{secret "API_KEY"}}: needs secrets'):
        render_template(text, {"f": "x.py"})


def test_data_without_go_equivalent_is_refused() -> None:
    """Data holding values Go templates cannot see (sets, objects) is a TemplateError."""
    with pytest.raises(TemplateError, match=r"template data data\.a is a set"):
        render("{{.a}}", {"a": {1}})
    with pytest.raises(TemplateError, match="non-string key 1"):
        render("{{.}}", {1: "x"})


def test_function_names_cannot_replace_builtins() -> None:
    """A caller function named like a predefined one is a programming error."""
    with pytest.raises(ValueError, match="would replace Go's predefined functions"):
        render("{{len 1}}", {}, {"len": str})


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    """Hundreds of nested blocks or parentheses give a TemplateError, not a RecursionError."""
    with pytest.raises(TemplateError, match="nest more than 100 deep"):
        render("{{if 1}}" * 300 + "{{end}}" * 300, {})
    with pytest.raises(TemplateError, match="nest more than 100 deep"):
        render("{{print " + "(" * 300 + "1" + ")" * 300 + "}}", {})


def test_large_template_renders() -> None:
    """A template with thousands of actions and lines renders in one pass."""
    text = "".join(f"line {n}: {{{{.params.v}}}}\n" for n in range(5000))
    out = render_template(text, {"v": "x"})
    assert out.count("\n") == 5000 and out.endswith("line 4999: x\n")


FRAGMENTS = ["{{", "}}", "{{- ", " -}}", "if", "else", "end", "range", "with", "$x", ":=", "=",
             ".params", ".a", "|", "(", ")", '"s"', "`r`", "1", "-2", "nil", "print", "len",
             "index", " ", "\n", "/*", "*/", ",", "'c'", "eq", "and", "text", "$", "."]


def test_random_templates_only_raise_template_error() -> None:
    """Random token soup renders or raises TemplateError; never another exception or a hang."""
    rng = random.Random(1234)
    outcomes = {"rendered": 0, "refused": 0}
    for _ in range(3000):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14)))
        try:
            render(text, {"params": StringMap(a="1"), "a": [1, {"b": None}]})
            outcomes["rendered"] += 1
        except TemplateError:
            outcomes["refused"] += 1
    assert outcomes["rendered"] > 100 and outcomes["refused"] > 100
