"""The dashboard's pages, rendered on the server as plain HTML (every value escaped). The little
script (`static/dashboard.js`) only keeps them live from the server's event streams; without it
they are still complete. No external fonts, styles or scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from reconciler.dashboard.actions import FormField

__all__ = ["action_html", "app_html", "index_html", "message_html", "plan_html", "result_html"]

STATIC = "/_ace/static"
COLUMNS = ("App", "State", "Health", "Mode", "Public URL", "Direct URL", "Last change",
           "Last error", "Actions")


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def app_link(path: str) -> str:
    return "/_ace/app?path=" + quote(path, safe="/")


def _layout(title: str, body: str, *, page: str, attrs: Mapping[str, str] | None = None,
            banner: str = "") -> str:
    data = "".join(f' data-{k}="{_e(v)}"' for k, v in (attrs or {}).items())
    live = ('<span id="live" class="live" title="live updates">●</span>'
            if page in ("index", "app") else "")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="color-scheme" content="light dark">'
            f'<title>{_e(title)}</title>'
            f'<link rel="stylesheet" href="{STATIC}/dashboard.css">'
            f'<script src="{STATIC}/dashboard.js" defer></script></head>\n'
            f'<body data-page="{_e(page)}"{data}>'
            f'<header><a class="brand" href="/_ace/">ace</a><span class="title">{_e(title)}'
            f'</span>{live}</header>\n'
            f'<div id="banner" class="banner"{"" if banner else " hidden"}>{_e(banner)}</div>\n'
            f'<main>{body}</main></body></html>\n')


def _url(url: str) -> str:
    return f'<a href="{_e(url)}">{_e(url)}</a>' if url else ""


def _error_cell(row: Mapping[str, Any]) -> str:
    text = row.get("last_error", "")
    where = (row.get("error") or {}).get("where", "")
    out = _e(text)
    if where and where not in text:
        out += f' <span class="where">{_e(where)}</span>'
    return out


def app_row_html(row: Mapping[str, Any]) -> str:
    """One table row (the script builds the same from the event stream)."""
    actions = " ".join(f'<a href="{_e(a["page"])}">{_e(a["name"])}</a>'
                       for a in row.get("actions", []))
    cells = (f'<a href="{_e(app_link(row["app"]))}">{_e(row["app"])}</a>',
             f'<span class="state state-{_e(row["state"])}">{_e(row["state"])}</span>',
             _e(row.get("health", "")), _e(row.get("mode", "")),
             _url(row.get("public_url", "")), _url(row.get("url", "")),
             _e(row.get("last_change", "")), _error_cell(row), actions)
    tds = "".join(f'<td data-col="{c}">{v}</td>' for c, v in zip(COLUMNS, cells, strict=True))
    return f'<tr data-app="{_e(row["app"])}">{tds}</tr>'


def _passes_html(passes: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for p in passes:
        steps = "".join(
            f'<li class="step outcome-{_e(s["outcome"])}">{_e(s["outcome"])} '
            f'<b>{_e(s["action"])}</b> {_e(s["app"])} <span class="cause">({_e(s["cause"])})'
            f'</span> {_e(s["seconds"])} s'
            + (f'<pre class="message">{_e(s["message"])}</pre>' if s.get("message") else "")
            + "</li>" for s in p.get("steps", []))
        errors = "".join(f'<li class="step outcome-failed">error {_e(x["app"])} '
                         f'<span class="where">{_e(x["where"])}</span>: {_e(x["text"])}</li>'
                         for x in p.get("errors", []))
        files = ", ".join(p.get("files", [])[:3])
        items.append(f'<li class="pass"><span class="cycle">{_e(p["cycle"])}</span> '
                     f'{_e(p["reason"])}{": " + _e(files) if files else ""} '
                     f'<span class="dim">{_e(p.get("seconds", ""))} s</span>'
                     f'<ul>{steps}{errors}</ul></li>')
    return "".join(items) or '<li class="dim">none yet</li>'


def index_html(state: Mapping[str, Any], passes: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = "".join(app_row_html(r) for r in state["apps"])
    body = (f'<p class="dim">apps file <code>{_e(state.get("apps_file", ""))}</code></p>'
            f'<table id="apps"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f'<h2>Recent passes</h2><ul id="passes" class="passes">{_passes_html(passes)}</ul>')
    return _layout("apps", body, page="index", banner=state.get("banner", ""))


def plan_html(steps: Iterable[Mapping[str, Any]], drift: Iterable[Mapping[str, Any]]) -> str:
    s = "".join(f'<li><b>{_e(x["action"])}</b> {_e(x["target"])} <span class="cause">'
                f'({_e(x["cause"])})</span></li>' for x in steps)
    d = "".join(f'<li><b>{_e(x["kind"])}</b> {_e(x["what"])}: expected {_e(x["expected"])}, '
                f'actual {_e(x["actual"])}</li>' for x in drift)
    return (f'<h3>Pending steps</h3><ul>{s or "<li class=dim>none: in sync</li>"}</ul>'
            f'<h3>Drift</h3><ul>{d or "<li class=dim>none</li>"}</ul>')


def app_html(row: Mapping[str, Any] | None, path: str, passes: Sequence[Mapping[str, Any]],
             plan: str) -> str:
    if row is None:
        return message_html(404, "No such app", [f"ace knows no app {path}"])
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    err = row.get("error") or {}
    output = "\n".join(err.get("output", []))
    detail = (f'<section id="error" class="error"><h2>Last error</h2>'
              f'<p>{_e(err.get("text", row.get("last_error", "")))} '
              f'<span class="where">{_e(err.get("where", ""))}</span></p>'
              + (f'<pre>{_e(output)}</pre>' if output else "") + "</section>"
              if row.get("last_error") else '<section id="error" hidden></section>')
    body = (f'<table id="apps"><thead><tr>{head}</tr></thead><tbody>{app_row_html(row)}'
            f'</tbody></table>{detail}'
            f'<h2>Logs</h2><pre id="log" class="log" aria-live="polite"></pre>'
            f'<div class="columns"><section><h2>Plan and drift</h2><div id="plan">{plan}</div>'
            f'</section><section><h2>Recent passes</h2><ul id="passes" class="passes">'
            f'{_passes_html(passes)}</ul></section></div>')
    return _layout(f"app {path}", body, page="app", attrs={"app": path})


def _field(f: FormField) -> str:
    label = f'<label for="p-{_e(f.name)}">{_e(f.name)}</label>'
    desc = f'<small>{_e(f.description)}</small>' if f.description else ""
    name = f'id="p-{_e(f.name)}" name="{_e(f.name)}"'
    if f.kind == "checkbox":
        checked = " checked" if f.value.lower() in ("true", "on", "1") else ""
        control = f'<input type="checkbox" {name} value="true"{checked}>'
    elif f.kind == "textarea":
        control = f'<textarea {name} rows="4">{_e(f.value)}</textarea>'
    elif f.kind == "select":
        opts = "".join(f'<option{" selected" if o == f.value else ""}>{_e(o)}</option>'
                       for o in f.options)
        control = f"<select {name}>{opts}</select>"
    elif f.kind == "combo":
        opts = "".join(f"<option value=\"{_e(o)}\">" for o in f.options)
        control = (f'<input type="text" {name} value="{_e(f.value)}" list="o-{_e(f.name)}">'
                   f'<datalist id="o-{_e(f.name)}">{opts}</datalist>')
    else:
        kind = "password" if f.kind == "password" else "text"
        hint = ' placeholder="(unchanged)"' if kind == "password" else ""
        control = f'<input type="{kind}" {name} value="{_e(f.value)}"{hint}>'
    return f'<div class="field">{label}{control}{desc}</div>'


def _cell(value: Any) -> str:
    return _e(value if isinstance(value, str) else json.dumps(value))


def result_html(result: Mapping[str, Any]) -> str:
    """An action's `ace.result`: its status, then a table for a list of dicts, lines for a list
    of strings, JSON otherwise; param errors beside."""
    out = [f'<p id="status" class="status">{_e(result.get("status") or "done")}</p>']
    values = result.get("values")
    if isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
        cols = list(dict.fromkeys(str(k) for v in values for k in v))
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        rows = "".join("<tr>" + "".join(f"<td>{_cell(v[c]) if c in v else ''}</td>"
                                        for c in cols) + "</tr>" for v in values)
        out.append(f'<table id="values"><thead><tr>{head}</tr></thead><tbody>{rows}'
                   f'</tbody></table>')
    elif isinstance(values, list):
        out.append('<pre id="values" class="lines">' + "\n".join(_cell(v) for v in values)
                   + "</pre>")
    elif values not in (None, "", {}):
        out.append(f'<pre id="values">{_cell(values)}</pre>')
    for name, msg in (result.get("param_errors") or {}).items():
        out.append(f'<p class="error">param {_e(name)}: {_e(msg)}</p>')
    return "".join(out)


def action_html(app_path: str, app_name: str, action: str, description: str, page: str,
                fields: Sequence[FormField], token: str, *, result: str = "",
                error: str = "", dry_run: bool = False) -> str:
    form = "".join(_field(f) for f in fields)
    done = ""
    if error:
        done = (f'<section id="result" class="error"><pre id="error-text">{_e(error)}</pre>'
                '</section>')
    elif result:
        label = "Dry run" if dry_run else "Result"
        done = f'<section id="result"><h2>{label}</h2>{result}</section>'
    body = (f'<p><a href="{_e(app_link(app_path))}">{_e(app_path)}</a> · {_e(app_name)}</p>'
            f'<h1>{_e(action)}</h1><p class="dim">{_e(description)}</p>'
            f'<form id="action" method="post" action="{_e(page)}">'
            f'<input type="hidden" name="_token" value="{_e(token)}">{form}'
            f'<div class="buttons"><button type="submit" name="_run" value="1">Run</button> '
            f'<button type="submit" name="_dry_run" value="1" class="secondary">Dry run</button>'
            f'</div></form>{done}')
    return _layout(f"{action} · {app_path}", body, page="action")


def message_html(status: int, title: str, lines: Sequence[str]) -> str:
    detail = "".join(f"<pre>{_e(x)}</pre>" for x in lines if x)
    return _layout(title, f"<h1>{status} {_e(title)}</h1>{detail}", page="message")
