"""The build step: build an app's image, its output passed on line by line (framed by a line
saying what is built and why, and one saying how it ended), its failure kept as a value."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.core.types import LABEL_APP, LABEL_INPUTS, LABEL_INSTALL, LABEL_MANAGED, DesiredApp
from reconciler.driver.buildfail import BuildFailed
from reconciler.driver.ports import Engine

__all__ = ["build_image"]


def build_image(engine: Engine, install: str, app: DesiredApp, cause: str,
                on_output: Callable[[str, str], None] | None = None) -> str:
    """Build and tag `app.image`; returns the image id. Raises BuildFailed (what failed is in
    its `failure`) or EngineError (the engine did not answer, or refused before building)."""
    assert app.build is not None
    b = app.build
    labels = {LABEL_MANAGED: "1", LABEL_INSTALL: install, LABEL_APP: app.path,
              LABEL_INPUTS: b.input_hash}
    path = app.path

    def say(line: str) -> None:
        if on_output is not None:
            on_output(path, line)

    say(f"-- building {app.image} ({cause})")
    t0 = time.monotonic()
    try:
        image_id = engine.build(context_dir=b.context_dir, containerfile=b.containerfile,
                                tag=app.image, build_args=dict(b.build_args), labels=labels,
                                on_log=None if on_output is None else say, target=b.target)
    except BuildFailed as exc:
        say(f"-- {str(exc).splitlines()[0]}")
        raise
    except Exception as exc:
        say(f"-- build of {app.image} failed: {str(exc).splitlines()[0] if str(exc) else exc}")
        raise
    say(f"-- built {app.image} in {time.monotonic() - t0:.1f} s")
    return image_id

