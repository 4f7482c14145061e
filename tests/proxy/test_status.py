"""The proxy's `/_ace/status`: the JSON of `ace status --json` for what the last pass saw,
including apps whose files do not evaluate while their container serves."""

from __future__ import annotations

from pathlib import Path

from apps.model import EvalError
from reconciler.core.types import DesiredState, ObservedContainer, ObservedState
from reconciler.proxy.service import ProxyService
from tests.proxy.kit import app, get_json
from tests.proxy.upstream import upstream


def test_status_of_an_app_that_does_not_evaluate(tmp_path: Path) -> None:
    """A held app's row shows its running container, live health and URL, and the error
    (file:line) in `error`; the eval error is not taken for a failed apply."""
    error = EvalError("/web", "/src/web/app.star", 3, 5, "name 'x' is not defined")
    with upstream("a") as a, ProxyService("127.0.0.1:0", state_dir=tmp_path) as p:
        c = ObservedContainer("c1", "ace-x-web-v1", "/web", "v1", "running", "Up", a.port, 5,
                              "img", scheme="http", health_path="/")
        p.update([app("/other")], DesiredState((), held=frozenset({"/web"}),
                                               declared=frozenset({"/web", "/other"})),
                 ObservedState((c,), ()), {"/web": f"{error.where}: {error.message}"},
                 [error.to_json()])
        doc = get_json(p, "/_ace/status")
    assert doc["errors"] == [error.to_json()]
    [row] = doc["apps"]
    assert (row["path"], row["state"], row["health"], row["url"], row["container"]) == (
        "/web", "running", "healthy", f"http://127.0.0.1:{a.port}", "ace-x-web-v1")
    assert row["error"] == "/src/web/app.star:3:5: name 'x' is not defined"
