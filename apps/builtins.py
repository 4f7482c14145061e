"""The Starlark builtins of app files: the `ace` and `param` namespaces (no load needed); the
`container.in` / `proxy.in` plugin modules are `plugins`'.

Each namespace is a small Starlark prelude wrapping `_ace_*` Python callables. Wrappers that must
hold Starlark functions (ace.app, ace.action, ace.api, ...) stay in Starlark and pass only data to
Python; wrappers that need their call's location pass `call_stack()` along.
"""

from __future__ import annotations

import json
from typing import Any

import starlark as sl

from apps import prints
from apps.container import PROXY_BASE_URL
from apps.context import AppContext, bind, strings
from apps.permissions import parse_permission
from apps.prints import PRINT_PRELUDE, AppPrint
from apps.ranges import install_range
from apps.sandbox import BUILTIN_PREFIX, DIALECT, GLOBALS

__all__ = ["install_app_builtins"]

PERMISSION_PARAMS: tuple[tuple[str, Any], ...] = (
    ("plugin", None),
    ("method", None),
    ("arguments", []),
    ("type", ""),
    ("secrets", []),
    ("permit", []),
)
# OpenRun's ace.app keywords, in its order. UI-only ones (style, libraries, custom_layout) are
# accepted and have no effect in ace.
APP_KEYWORDS = (
    "name", "routes", "style", "permissions", "libraries", "settings", "custom_layout",
    "container", "actions", "static_only", "index", "single_file", "redirect_bare_path",
)
CONSTANTS = (
    "GET", "POST", "PUT", "DELETE", "PATCH", "HTML", "JSON", "TEXT", "READ", "WRITE", "AUTO",
    "TABLE", "DOWNLOAD", "IMAGE",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# ace.*

_ACE_PRELUDE = """
def _ace_app_fn(name, routes=[], style=None, permissions=[], libraries=[], settings={},
               custom_layout=False, container=None, actions=[], static_only=False, index="",
               single_file=False, redirect_bare_path=False, **kwargs):
    ids = []
    for a in actions:
        if type(a) != "struct" or not hasattr(a, "_ace_action"):
            _ace_fail(call_stack(), "app",
                      "ace.app: actions must be ace.action(...) values, got " + type(a))
        ids.append(a._ace_action)
    rs = []
    for r in routes:
        rs.append(r if type(r) == "dict" else {"_ace_kind": getattr(r, "_ace_kind", type(r))})
    i = _ace_app(call_stack(), name, rs, permissions, ids, container, settings,
                 sorted(kwargs.keys()), redirect_bare_path, static_only, index, single_file,
                 custom_layout)
    return struct(name=name, routes=routes, style=style, permissions=permissions,
                  libraries=libraries, settings=settings, custom_layout=custom_layout,
                  container=container, actions=actions, static_only=static_only, index=index,
                  single_file=single_file, redirect_bare_path=redirect_bare_path, _ace_app=i)

def _ace_action_fn(name, path, run, suggest=None, description="", hidden=[], **kwargs):
    if type(run) != "function":
        _ace_fail(call_stack(), "action",
                  "ace.action: run must be a function run(dry_run, args), got " + type(run))
    i = _ace_action(call_stack(), name, path, description, hidden)
    return struct(name=name, path=path, run=run, suggest=suggest, description=description,
                  hidden=hidden, _ace_action=i, **kwargs)

def _ace_page(kind):
    def page(path="/", *args, **kwargs):
        return struct(_ace_kind=kind, path=path)
    return page

def _ace_struct(kind):
    def make(*args, **kwargs):
        return struct(_ace_kind=kind, args=args, **kwargs)
    return make

def _ace_config_fn(key, default=None):
    return _ace_config(key, default)

def _ace_output_fn(value=None, error=""):
    return struct(value=value, error=error)

ace = struct(
    app=_ace_app_fn, action=_ace_action_fn, proxy=_ace_proxy, permission=_ace_permission,
    result=_ace_result, html=_ace_page("html"), api=_ace_page("api"),
    fragment=_ace_page("fragment"), style=_ace_struct("style"), library=_ace_struct("library"),
    response=_ace_struct("response"), redirect=_ace_struct("redirect"),
    config=_ace_config_fn, audit=_ace_audit, output=_ace_output_fn,
    CONTAINER_URL="<CONTAINER_URL>", CONSTANTS)
param = struct(**_ace_param_values)
""".replace("CONSTANTS", ", ".join(f'{c}="{c}"' for c in CONSTANTS)) + PRINT_PRELUDE


def install_app_builtins(ctx: AppContext, module: sl.Module) -> None:
    """Define `ace`, `param` and `print` in a user module (app.star or a loaded .star file)."""

    def fail_(call_stack: str, hint: str, message: str) -> None:
        raise ctx.fail(message, ctx.where(call_stack, hint))

    def app_(
        call_stack: str,
        name: Any,
        routes: Any,
        permissions: Any,
        action_ids: list[int],
        container: Any,
        settings: Any,
        extra: list[str],
        redirect_bare_path: Any,
        static_only: Any,
        index: Any,
        single_file: Any,
        custom_layout: Any,
    ) -> int:
        loc = ctx.where(call_stack, "app")
        if extra:
            raise ctx.fail(f"ace.app got an unknown keyword argument {extra[0]!r}; known: "
                           f"{', '.join(APP_KEYWORDS)}", loc)
        for key, flag in (("redirect_bare_path", redirect_bare_path),
                          ("static_only", static_only), ("single_file", single_file),
                          ("custom_layout", custom_layout)):
            if not isinstance(flag, bool):
                raise ctx.fail(f"ace.app: {key} must be True or False, got {json.dumps(flag)}",
                               loc)
        if not isinstance(index, str):
            raise ctx.fail(f"ace.app: index must be a file name string, got {json.dumps(index)}",
                           loc)
        if not isinstance(name, str):
            raise ctx.fail(f"ace.app: name must be a string, got {json.dumps(name)}", loc)
        if not isinstance(permissions, list) or not all(
            isinstance(p, dict) and p.get("_ace_kind") == "permission" for p in permissions
        ):
            raise ctx.fail("ace.app: permissions must be a list of ace.permission(...)", loc)
        if container is not None and not (
            isinstance(container, dict) and container.get("_ace_kind") == "container"
        ):
            raise ctx.fail("ace.app: container must be the value of container.config(...)", loc)
        if not isinstance(settings, dict):
            raise ctx.fail("ace.app: settings must be a dict", loc)
        ctx.app_records.append(
            {
                "name": name,
                "routes": [r for r in routes if r.get("_ace_kind") == "proxy"],
                "permissions": [parse_permission(p) for p in permissions],
                "actions": action_ids,
                "container": None if container is None else container["_ace_call"],
                "settings": settings,
                "redirect_bare_path": redirect_bare_path,
                "static_only": static_only,
                "index": index,
                "single_file": single_file,
                "location": loc,
            }
        )
        return len(ctx.app_records) - 1

    def action_(
        call_stack: str, name: Any, path: Any, description: Any, hidden: Any
    ) -> int:
        loc = ctx.where(call_stack, "action")
        for what, value in (("name", name), ("path", path), ("description", description)):
            if not isinstance(value, str):
                raise ctx.fail(f"ace.action: {what} must be a string, got {json.dumps(value)}", loc)
        if not path.startswith("/"):
            raise ctx.fail(f"ace.action: path {path!r} must start with /", loc)
        hidden_ = strings(ctx, "ace.action", "hidden", hidden)
        ctx.action_records.append(
            {"name": name, "path": path, "description": description, "hidden": hidden_}
        )
        return len(ctx.action_records) - 1

    def proxy_(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound, _ = bind(ctx, "ace.proxy", (("path", None), ("config", None)), args, kwargs)
        path, config = bound["path"], bound["config"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise ctx.fail(f"ace.proxy: path must be a string starting with /, got {path!r}")
        if not (isinstance(config, dict) and config.get("_ace_kind") == "proxy_config"):
            raise ctx.fail("ace.proxy: config must be the value of proxy.config(url, ...)")
        return {"_ace_kind": "proxy", "path": path, "config": config}

    def permission_(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound, _ = bind(ctx, "ace.permission", PERMISSION_PARAMS, args, kwargs)
        for key in ("plugin", "method", "type"):
            if not isinstance(bound[key], str):
                raise ctx.fail(f"ace.permission: {key} must be a string, got {bound[key]!r}")
        if not bound["plugin"].endswith(".in"):
            raise ctx.fail(
                f"ace.permission: plugin {bound['plugin']!r} must name a plugin file like "
                "\"container.in\""
            )
        if not isinstance(bound["arguments"], list):
            raise ctx.fail("ace.permission: arguments must be a list of patterns")
        secrets = bound["secrets"]
        if not isinstance(secrets, list):
            raise ctx.fail("ace.permission: secrets must be a list of lists of patterns")
        bound["secrets"] = [s if isinstance(s, list) else [s] for s in secrets]
        if not isinstance(bound["permit"], list):
            raise ctx.fail("ace.permission: permit must be a list")
        return {"_ace_kind": "permission", **bound}

    def result_(*args: Any, **kwargs: Any) -> dict[str, Any]:
        params: tuple[tuple[str, Any], ...] = (
            ("status", ""), ("values", []), ("report", "AUTO"), ("param_errors", {}),
        )
        bound, _ = bind(ctx, "ace.result", params, args, kwargs)
        if not isinstance(bound["param_errors"], dict):
            raise ctx.fail("ace.result: param_errors must be a dict")
        return bound

    def config_(key: Any, default: Any) -> Any:
        if key == "_app_url":  # OpenRun: the app's own URL, as CL_APP_URL gives it
            return PROXY_BASE_URL + ("" if ctx.entry.path == "/" else ctx.entry.path)
        if key == "_dev":
            return ctx.entry.dev
        return default  # ace has no node config: every other key gives the default

    def audit_(*args: Any, **kwargs: Any) -> None:
        bind(ctx, "ace.audit", (("operation", None), ("target", None), ("detail", "")), args,
             kwargs)  # recorded by OpenRun for its audit log; ace has none

    def print_(call_stack: str, text: str) -> None:
        loc = ctx.where(call_stack, "print")
        prints.record(AppPrint(ctx.app, loc.file, loc.line, text))

    module["_ace_param_values"] = ctx.params
    for name, fn in (
        ("_ace_fail", fail_),
        ("_ace_app", app_),
        ("_ace_action", action_),
        ("_ace_proxy", proxy_),
        ("_ace_permission", permission_),
        ("_ace_result", result_),
        ("_ace_config", config_),
        ("_ace_audit", audit_),
        ("_ace_print", print_),
    ):
        module.add_callable(name, fn)
    install_range(module)
    sl.eval(module, _PRELUDE_AST_CACHE.get(), GLOBALS)


class _AstCache:
    def __init__(self, name: str, source: str) -> None:
        self.name, self.source = name, source

    def get(self) -> sl.AstModule:
        # an AstModule is consumed by evaluation: parse per use (about 30 µs)
        return sl.parse(self.name, self.source, DIALECT)


_PRELUDE_AST_CACHE = _AstCache(BUILTIN_PREFIX + "builtins>", _ACE_PRELUDE)
