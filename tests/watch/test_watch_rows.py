"""The watch table's rows (both watch displays show them): built from the same status rows as
`ace status`, with crash loops and the last events of the loop."""

from __future__ import annotations

from dataclasses import replace

from reconciler.watch.reporter import Row, build_rows
from tests.core.builders import built, ctr, seen, want

WEB = built("/web")
BROKEN = "/src/web/app.star:3:5: name 'x' is not defined"


def test_app_that_does_not_evaluate_shows_its_running_container() -> None:
    """An app whose files fail to evaluate (no last good state, e.g. right after watch started)
    is shown running, with its health and URL, and its error as the last error."""
    running = replace(ctr(WEB), scheme="http", health_path="/")
    rows = build_rows(want(held=("/web",)), seen(running), {"/web": "healthy"}, {}, {},
                      {"/web": BROKEN})
    assert rows == (Row("/web", "running", "healthy", "http://127.0.0.1:40001", "", BROKEN),)


def test_declared_app_row_and_its_last_change() -> None:
    """A declared running app shows its URL and the loop's last change, no error."""
    rows = build_rows(want(WEB), seen(ctr(WEB)), {}, {}, {"/web": "12:00:00 start: new app"}, {})
    assert rows == (Row("/web", "running", "unknown", "http://127.0.0.1:40001",
                        "12:00:00 start: new app", ""),)
