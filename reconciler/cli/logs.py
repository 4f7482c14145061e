"""`ace logs [APP...]`: apps' logs — their containers' output and their builds' — as one stream.

One APP prints its lines as they are (notes on stderr). No APP (every app) or several: lines
are merged by time, each prefixed with its app's path in a colour of its own (the same colour
every time), as `docker compose logs` does. `--json` prints one object per line instead.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import zlib
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.flags import (
    BackendOpt,
    FileOpt,
    LogJsonOpt,
    RegistryOpt,
    StateOpt,
    VerboseOpt,
)
from reconciler.cli.options import (
    errors,
    render,
    session,
    settings_from,
)

__all__ = ["colour_of", "format_line", "logs"]

# The colours of `docker compose logs`: cyan, yellow, green, magenta, blue, then bright ones.
_PALETTE = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)


def colour_of(app: str) -> int:
    """The app's ANSI colour: a hash of its path, so it is the same in every run."""
    return _PALETTE[zlib.crc32(app.encode()) % len(_PALETTE)]


def format_line(line: object, *, prefix_width: int | None, colour: bool,
                timestamps: bool) -> str:
    """A line for people: `/web  | text` (no prefix when `prefix_width` is None)."""
    from reconciler.applogs.lines import AppLine, iso_time

    assert isinstance(line, AppLine)
    text = f"{iso_time(line.time)} {line.text}" if timestamps and line.time else line.text
    if prefix_width is None:
        return text
    prefix = f"{line.app:<{prefix_width}} | "
    if colour:
        prefix = f"\x1b[{colour_of(line.app)}m{prefix}\x1b[0m"
    return prefix + text


def _note(text: str) -> None:
    render.err_console.print(text, style="dim", markup=False)


def logs(targets: Annotated[list[str] | None, typer.Argument(
             metavar="[APP]...", help="App paths (default: every app).")] = None,
         file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
         tail: Annotated[int, typer.Option(
             "--tail", help="Lines from the end, per app (-1: all).")] = 100,
         follow: Annotated[bool, typer.Option(
             "--follow",
             help="Keep printing; across replaces, follow each app's new container.")] = False,
         since: Annotated[str | None, typer.Option(
             "--since", help="Only lines since: a duration (10m, 1h30m), unix seconds or an "
                             "RFC 3339 time.")] = None,
         timestamps: Annotated[bool, typer.Option(
             "--timestamps", "-t", help="Show each line's time.")] = False,
         as_json: Annotated[bool, typer.Option(
             "--json", help="One JSON object per line: app, container, stream, time, text.")
         ] = False, verbose: VerboseOpt = False, log_json: LogJsonOpt = False,
         backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
    """Print apps' logs: their containers' and their builds' output (--follow: and what comes
    after, across replaces)."""
    from reconciler.logs import setup_logging

    setup_logging(json_lines=log_json, verbose=verbose)
    from reconciler.applogs.follow import LogSource, history, list_apps
    from reconciler.applogs.follow import follow as follow_apps
    from reconciler.applogs.lines import AppLine, parse_since

    with errors():
        settings = settings_from(file, state_dir, backend=backend, registry=registry)
        start = parse_since(since) if since else 0.0
        with session(settings, lock_timeout=None) as (store, engine):
            src = LogSource(engine, store.install_id, settings.state_dir)
            apps = list(dict.fromkeys(targets)) if targets else list_apps(src)
            known = set(list_apps(src))
            for app in apps:
                if targets and app not in known:
                    _note(f"-- {app} has no container and no build log (yet)")
            lines, marks = history(src, apps, tail=tail, since=start)
    single = len(targets or []) == 1
    width = max((len(a) for a in apps), default=1)
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ

    def show(line: AppLine) -> None:
        if as_json:
            sys.stdout.write(json.dumps(line.to_json()) + "\n")
        else:
            sys.stdout.write(format_line(line, prefix_width=None if single else width,
                                         colour=colour, timestamps=timestamps) + "\n")

    for line in lines:
        show(line)
    sys.stdout.flush()
    if not follow:
        return
    stop = threading.Event()
    got: queue.Queue[AppLine | str] = queue.Queue()
    with suppress(KeyboardInterrupt):  # Ctrl-C at any moment of following ends with exit 0
        follow_apps(src, None if not targets else apps, marks=marks, emit=got.put,
                    note=got.put, stop=stop)
        while True:
            try:
                item = got.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(item, str):
                _note(item)
            else:
                show(item)
                sys.stdout.flush()
    stop.set()
