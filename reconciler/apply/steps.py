"""One step of a plan against the engine: builds, pulls, images, networks, container stops."""

from __future__ import annotations

from reconciler.apply.containers import crashed, replace, restart
from reconciler.apply.context import Context, Done, StepFailed
from reconciler.apply.network import aliases
from reconciler.core.types import LABEL_INSTALL, LABEL_MANAGED, Step
from reconciler.driver.ports import ImageInUse
from reconciler.logs import get_logger

__all__ = ["run_step"]

log = get_logger("ace.apply")


def run_step(ctx: Context, step: Step, done: Done) -> None:
    """Execute one step; `done` receives the URL of a started service and crash details."""
    app = ctx.desired.get(step.app)
    if step.action == "build":
        from reconciler.apply.building import build_image  # loaded for builds only
        from reconciler.driver.buildfail import BuildFailed

        assert app is not None and app.build is not None
        try:
            with ctx.builds:
                image_id = build_image(ctx.engine, ctx.naming.install, app, step.cause,
                                       ctx.options.on_output)
        except BuildFailed as exc:
            f = exc.failure
            done.exit_code, done.logs = f.exit_code, "\n".join(f.output)
            done.failed_step, done.where = f.step, f.where
            raise
        ctx.record(ctx.recorder.record_image, app=app.path, tag=app.image, image_id=image_id,
                   input_hash=app.build.input_hash, files=app.build.files)
        return
    if step.action == "pull":
        with ctx.builds:
            ctx.engine.pull(step.target)
        return
    if step.action in ("start", "replace"):
        assert app is not None
        old = ctx.by_name.get(step.target) if step.action == "replace" else None
        crashed(ctx, old, done)
        replace(ctx, app, old, done)
        return
    if step.action in ("restart", "scale"):
        assert app is not None
        restart(ctx, app, step, done)
        return
    if step.action == "remove_image":
        try:
            ctx.engine.remove_image(step.target)
        except ImageInUse as exc:  # a container the pass did not see (`ace run`, not ace's)
            log.warning("image_kept", app=step.app, image=step.target, reason=str(exc))
            done.note = "kept: a container uses it"
            return
        ctx.record(ctx.recorder.forget_image, app=step.app, tag=step.target)
        return
    if step.action == "network":
        ctx.engine.ensure_network(step.target, {LABEL_MANAGED: "1",
                                                LABEL_INSTALL: ctx.naming.install})
        return
    if step.action == "connect":
        assert app is not None
        ctx.engine.connect(ctx.by_name[step.target].id, ctx.network, aliases(ctx.network, app))
        return
    if step.action == "sleep":
        ctx.engine.stop(ctx.by_name[step.target].id, timeout=ctx.options.stop_timeout)
        return
    if step.action in ("stop", "remove"):
        c = ctx.by_name[step.target]
        ctx.engine.stop_and_remove(c.id, timeout=ctx.options.stop_timeout)
        ctx.record(ctx.recorder.forget_container, container_id=c.id)
        if step.app not in ctx.declared or (app is not None and not app.service):
            ctx.record(ctx.recorder.forget_app, app=step.app)
        return
    raise StepFailed(f"unknown action {step.action}")
