"""`range()` with a bound, for every user module: a range of a billion items otherwise ends in
the deadline or out of memory with no line to show (or, past 32 bits, in an internal message of
the Starlark engine). Refused at the call instead, as "too many iterations"."""

from __future__ import annotations

import starlark as sl

from apps.sandbox import BUILTIN_PREFIX, DIALECT, GLOBALS

__all__ = ["MAX_RANGE", "install_range"]

MAX_RANGE = 10_000_000  # items of one range(): more cannot be looped over within a deadline
_RANGE_KEEP = "_ace_builtin_range = range\n"  # the builtin, before `range` is ours
_RANGE = f"""
def range(*args):
    shown = "range(%s)" % ", ".join([str(a) for a in args])
    for a in args:
        if type(a) == "int" and (a > 2147483647 or a < -2147483648):
            fail("%s: %d is too large for a range (at most {MAX_RANGE} items per range); " %
                 (shown, a) + "an app's files must evaluate within the deadline: loop over less")
    r = _ace_builtin_range(*args)
    if len(r) > {MAX_RANGE}:
        fail("%s has %d items: too many iterations (at most {MAX_RANGE} per range); " %
             (shown, len(r)) + "an app's files must evaluate within the deadline: loop over less")
    return r
"""


def install_range(module: sl.Module) -> None:
    """Replace `range` in a user module by one that refuses more than MAX_RANGE items, located
    at the call (a Starlark `range` value still: same type, lazy, indexable). Two sources, since
    a file that defines `range` cannot also read the builtin of that name."""
    sl.eval(module, sl.parse(BUILTIN_PREFIX + "range>", _RANGE_KEEP, DIALECT), GLOBALS)
    sl.eval(module, sl.parse(BUILTIN_PREFIX + "range>", _RANGE, DIALECT), GLOBALS)
