"""Evaluating a declarations file — the apps file or params.star: ace's prelude, then the
user's source, with a located `print`, a bounded `range()`, and `load()` refused with a message
that says so (these files load nothing)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import starlark as sl

from apps import prints
from apps.errors import AppError
from apps.prints import PRINT_PRELUDE, AppPrint
from apps.ranges import install_range
from apps.sandbox import (
    BUILTIN_PREFIX,
    DIALECT,
    GLOBALS,
    Deadline,
    ErrorSink,
    eval_options,
    locate,
)

__all__ = ["eval_declarations"]

_DECLARES = {"apps": ("the apps file", "declare every app(...) in the apps file itself"),
             "params": ("params.star", "declare the params with param(...) in params.star")}


def eval_declarations(kind: str, prelude: str, hook: str, fn: Callable[..., Any], path: str,
                      source: str, deadline: Deadline, sink: ErrorSink | None = None,
                      app: str = "") -> None:
    """Evaluate a declarations file (the apps file, params.star): our `prelude` (named
    `<ace:KIND>`, defining the user-facing builtin over the callable `hook`), then the user's
    `source`. `print` is recorded as app `app`'s (apps.prints); `load()` is refused with an
    AppError recorded in `sink`. Raises StarlarkError / AppError like `sl.eval`."""

    def print_(call_stack: str, text: str) -> None:
        loc = locate(call_stack, lambda f: not f.startswith(BUILTIN_PREFIX))
        prints.record(AppPrint(app, loc.file if loc else path, loc.line if loc else 0, text))

    module = sl.Module()
    module.add_callable(hook, fn)
    module.add_callable("_ace_print", print_)
    install_range(module)
    sl.eval(module, sl.parse(BUILTIN_PREFIX + kind + ">", prelude + PRINT_PRELUDE, DIALECT),
            GLOBALS)
    name, fix = _DECLARES.get(kind, (kind, "remove the load"))
    base = os.path.dirname(os.path.abspath(path))

    def refuse(module_id: str) -> sl.FrozenModule:
        target = os.path.normpath(os.path.join(base, module_id))
        where = "" if os.path.commonpath([base, target]) == base else (
            f" (it is outside {base}, the directory of {name})")
        err = AppError(f"{name} cannot load {module_id!r}{where}: load() is not available in "
                       f"{name}; {fix}")
        raise err if sink is None else sink.record(err)

    sl.eval_with(eval_options(deadline), module, sl.parse(path, source, DIALECT), GLOBALS,
                 sl.FileLoader(refuse))
