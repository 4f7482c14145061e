"""Rendering `cl_secret` volume templates, as OpenRun does, with ace's Go template engine.

OpenRun renders `cl_secret:./file.tmpl:/target` with Go's text/template and the data
`{"params": map[string]string}`, so templates read params as `{{ .params.name }}` and can range
over them (sorted by name). ace adds `{{ secret "KEY" }}`, resolved through the caller's lookup
(which enforces the app's secret allow-list). The supported template subset is described in
`apps.gotemplate`; anything outside it is a `TemplateError` naming the line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from apps.gotemplate import StringMap, TemplateError, render

__all__ = ["TemplateError", "render_template"]


def _no_secrets(key: str) -> str:
    raise TemplateError(
        "needs secrets, which are not available here; pass the value as a param instead"
    )


def render_template(
    text: str, params: Mapping[str, str], secret: Callable[[str], str] | None = None
) -> str:
    """Render `text` with `params` (values already strings, as the container sees them)."""
    data = {"params": StringMap(params)}
    return render(text, data, {"secret": secret or _no_secrets})
