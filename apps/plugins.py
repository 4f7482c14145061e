"""The `container.in` and `proxy.in` plugin modules of app files: `container.config`,
`container.run` (only under `ace run`, within the app's permissions) and `proxy.config`."""

from __future__ import annotations

from typing import Any

import starlark as sl

from apps.context import AppContext, bind, given_count
from apps.errors import AppError
from apps.permissions import PluginCall, check_call
from apps.sandbox import BUILTIN_PREFIX, DIALECT, GLOBALS, Location

__all__ = ["CONTAINER_CONFIG_PARAMS", "CONTAINER_RUN_PARAMS", "plugin_module"]

CONTAINER_CONFIG_PARAMS: tuple[tuple[str, Any], ...] = (
    ("src", "auto"),
    ("port", 0),
    ("scheme", "http"),
    ("health", "/"),
    ("lifetime", "app"),
    ("build_dir", ""),
    ("volumes", []),
    ("cargs", {}),
    ("dev_settings", {}),
    ("command", []),
)
CONTAINER_RUN_PARAMS: tuple[tuple[str, Any], ...] = (
    ("path", None),
    ("args", []),
    ("env", []),
    ("process_partial", False),
    ("stdout_file", False),
    ("parse", ""),
    ("stream", False),
    ("include_stderr", True),
    ("cwd", ""),
)
PROXY_CONFIG_PARAMS: tuple[tuple[str, Any], ...] = (
    ("url", None),
    ("strip_path", ""),
    ("preserve_host", False),
    ("strip_app", True),
    ("response_headers", {}),
)

_CONTAINER_SOURCE = """
def _config(*args, **kwargs):
    return _ace_container_config(call_stack(), *args, **kwargs)

def _run(*args, **kwargs):
    return struct(**_ace_container_run(call_stack(), *args, **kwargs))

container = struct(config=_config, run=_run, AUTO="auto", URL="<CONTAINER_URL>",
                   COMMAND="command", IMAGE_PREFIX="image:")
"""

_PROXY_SOURCE = """
def _config(*args, **kwargs):
    return _ace_proxy_config(call_stack(), *args, **kwargs)

proxy = struct(config=_config)
"""


def plugin_module(ctx: AppContext, plugin: str) -> sl.FrozenModule | None:
    """The frozen module served for `load("container.in", ...)` / `load("proxy.in", ...)`."""
    module = sl.Module()
    if plugin == "container.in":

        def config_(call_stack: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            loc = ctx.where(call_stack, "config")
            bound, given = bind(ctx, "container.config", CONTAINER_CONFIG_PARAMS, args, kwargs, loc)
            call = PluginCall(
                "container.in", "config", tuple(bound.values()), loc.file, loc.line, loc.column,
                given_count(CONTAINER_CONFIG_PARAMS, given),
            )
            ctx.calls.append(call)
            ctx.container_calls.append((given, call))
            return {"_ace_kind": "container", "_ace_call": len(ctx.container_calls) - 1, **bound}

        def run_(call_stack: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            loc = ctx.where(call_stack, "run")
            parse_json = kwargs.pop("parse_json", None)
            bound, given = bind(ctx, "container.run", CONTAINER_RUN_PARAMS, args, kwargs, loc)
            if parse_json:
                bound["parse"] = "json"
            call = PluginCall(
                "container.in", "run", tuple(bound.values()), loc.file, loc.line, loc.column,
                given_count(CONTAINER_RUN_PARAMS, given),
            )
            if ctx.mode != "action" or ctx.host is None:
                raise ctx.fail(
                    "container.run needs `ace run`: it only works inside an action's run "
                    "function started with `ace run`, not while the app is loaded",
                    loc,
                )
            try:
                check_call(ctx.app, call, ctx.permissions)
            except AppError as e:
                raise ctx.sink.record(e) from None
            try:
                result = ctx.host.call("container.run", bound)
            except Exception as e:
                text = str(e)
                message = text if text.startswith("container.run") else f"container.run: {text}"
                raise ctx.fail(message, loc) from None
            if not isinstance(result, dict):
                raise ctx.fail("container.run: the command runner returned no result", loc)
            return dict(result)

        module.add_callable("_ace_container_config", config_)
        module.add_callable("_ace_container_run", run_)
        source = _CONTAINER_SOURCE
    elif plugin == "proxy.in":

        def proxy_config_(call_stack: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            loc = ctx.where(call_stack, "config")
            bound, given = bind(ctx, "proxy.config", PROXY_CONFIG_PARAMS, args, kwargs, loc)
            if not isinstance(bound["url"], str) or not bound["url"]:
                raise ctx.fail("proxy.config: url must be a non-empty string", loc)
            for key, typ in (("strip_path", str), ("preserve_host", bool), ("strip_app", bool)):
                if not isinstance(bound[key], typ):
                    raise ctx.fail(f"proxy.config: {key} must be a {typ.__name__}", loc)
            headers = bound["response_headers"]
            if not isinstance(headers, dict) or not all(
                isinstance(v, str) for v in headers.values()
            ):
                raise ctx.fail("proxy.config: response_headers must be a dict of strings", loc)
            ctx.calls.append(
                PluginCall(
                    "proxy.in", "config", tuple(bound.values()), *_triple(loc),
                    given_count(PROXY_CONFIG_PARAMS, given),
                )
            )
            return {"_ace_kind": "proxy_config", **bound}

        module.add_callable("_ace_proxy_config", proxy_config_)
        source = _PROXY_SOURCE
    else:
        return None
    sl.eval(module, sl.parse(BUILTIN_PREFIX + plugin + ">", source, DIALECT), GLOBALS)
    return module.freeze()


def _triple(loc: Location) -> tuple[str, int, int]:
    return loc.file, loc.line, loc.column

