"""What a pass writes to the state store about containers: the `Recorder` protocol (the
store's side the executor uses) and `adopt`, which every non-dry pass runs — kept apart from the
executor so a pass with nothing to apply never loads it."""

from __future__ import annotations

from typing import Protocol

from reconciler.core.types import (
    DesiredApp,
    DesiredState,
    ObservedState,
    RecordedApp,
    RecordedState,
)

__all__ = ["Recorder", "adopt", "recorded_app"]


class Recorder(Protocol):
    """What the executor writes to the state store."""

    def record_image(
        self, *, app: str, tag: str, image_id: str, input_hash: str,
        files: tuple[tuple[str, str], ...],
    ) -> None: ...

    def record_container(
        self, container_id: str, *, app: str, name: str, version: str, host_port: int | None,
        state: str, health: str,
    ) -> None: ...

    def forget_container(self, container_id: str) -> None: ...

    def forget_image(self, app: str, tag: str) -> None: ...

    def record_applied(self, app: RecordedApp) -> None: ...

    def forget_app(self, app: str) -> None: ...


def recorded_app(app: DesiredApp, container_id: str) -> RecordedApp:
    return RecordedApp(path=app.path, version=app.version, image=app.image,
                       container_id=container_id, files=app.build.files if app.build else (),
                       spec_json=app.spec_json)


def adopt(
    desired: DesiredState, observed: ObservedState, recorded: RecordedState, recorder: Recorder
) -> tuple[str, ...]:
    """Record running containers of the desired version that the store does not know (after the
    state dir was lost, or a kill between start and record). Writes nothing when all is known."""
    adopted: list[str] = []
    for app in desired.apps:
        if not app.service or app.path in desired.held:
            continue
        rec = recorded.get(app.path)
        running = [c for c in observed.containers
                   if c.app == app.path and c.version == app.version and c.state == "running"]
        if not running:
            continue
        c = max(running, key=lambda x: x.created)
        if rec is not None and rec.version == app.version and rec.container_id == c.id:
            continue
        recorder.record_container(c.id, app=app.path, name=c.name,
                                  version=app.version, host_port=c.host_port, state=c.state,
                                  health="unknown")
        recorder.record_applied(recorded_app(app, c.id))
        adopted.append(app.path)
    return tuple(adopted)
