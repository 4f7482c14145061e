"""Evaluation limits (light module: importing it loads no Starlark)."""

DEFAULT_DEADLINE = 2.0  # seconds per evaluation of the apps file or one app
DEFAULT_MEMORY_LIMIT = 1 << 30  # extra address space a child evaluation may use
