"""The dashboard on ace's proxy (`/_ace/`, and `/` when no app is mounted there): every app live,
a page per app with its logs, plan, drift and recent passes, and its actions run from a form.

- `board`: `Board`, what the pages show, fed by the watch loop as one more Reporter
- `pages`: the server-rendered HTML; `static/`: the stylesheet and the little script
- `handler`: `Dashboard`, the requests the proxy hands it; `streams`: its event streams
- `actions`: action forms from an app's params, and running them as `ace run` does
- `guard`: Host, Origin and per-page token checks (no other site drives the dashboard)
"""
