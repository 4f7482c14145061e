"""Turn evaluated apps into the planner's desired state: image references, build-input hashes and
container version hashes. Reads build contexts (through the digest cache); touches no engine.

A dev-mode app (`ContainerConfig.dev`) gets a dev image (its container file built up to the dev
target, identified by the file, build args, target, build dir and the contents of its env files
only) and a container that mounts the app's source at `dir`, works there and runs the dev
command through `sh -c`: editing a source file changes neither, so it never builds."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace

from apps.model import App, ContainerConfig, DevSettings, EvalError, EvalResult
from reconciler.core.hashing import (
    DigestCache,
    hash_build_inputs,
    hash_dev_inputs,
    spec_json,
    version_of,
)
from reconciler.core.types import BuildInputs, ContainerSpec, DesiredApp, DesiredState

__all__ = ["Naming", "alias", "alias_collisions", "desired_state", "desired_app", "slug",
           "special_file_warnings", "with_errors"]


def slug(app_path: str) -> str:
    """A name fragment for an app path: "/" -> "root", "/a/b" -> "a-b" (lowercase, docker-safe)."""
    s = re.sub(r"[^a-z0-9]+", "-", app_path.strip("/").lower()).strip("-")
    return s or "root"


def alias(app_path: str) -> str:
    """The DNS name an app answers to on the app network: its slug ("/api" -> "api",
    "/a/b" -> "a-b", "/" -> "root")."""
    return slug(app_path)


@dataclass(frozen=True, slots=True)
class Naming:
    """Names of what ace creates for one installation."""

    install: str
    state_dir: str
    apps_file: str = ""  # absolute; labels containers, so other installations can tell

    def image_repo(self, app_path: str) -> str:
        return f"ace-{self.install}/{slug(app_path)}"

    def image_tag(self, app_path: str, input_hash: str) -> str:
        return f"{self.image_repo(app_path)}:{input_hash[:16]}"

    def dev_image_tag(self, app_path: str, input_hash: str) -> str:
        return f"ace-{self.install}/{slug(app_path)}:dev-{input_hash[:12]}"

    def container_name(self, app_path: str, version: str) -> str:
        return f"ace-{self.install}-{slug(app_path)}-{version[:12]}"

    @property
    def network(self) -> str:
        """The installation's app network (a user-defined bridge every service joins)."""
        return f"ace-{self.install}"

    def volume_name(self, app_path: str, name: str) -> str:
        return f"ace-{self.install}-{slug(app_path)}-{slug(name)}"

    def secret_path(self, app_path: str, content: str) -> str:
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        return os.path.join(self.state_dir, "secrets", slug(app_path), digest)


def _health_path(app: App) -> str:
    """The health path as the container sees it: behind a `strip_app=False` route to the app's
    container, requests keep the app path in front, and so does the health check."""
    assert app.container is not None
    keeps_prefix = any(r.url == "<CONTAINER_URL>" and not r.strip_app for r in app.routes)
    if keeps_prefix and app.path != "/":
        return app.path.rstrip("/") + app.container.health
    return app.container.health


def _mounts(app: App, cfg: ContainerConfig, naming: Naming
            ) -> tuple[list[tuple[str, str, str, bool]], list[tuple[str, str]]]:
    """The app's volumes as the engine mounts them, and its secret files (host path, content)."""
    volumes: list[tuple[str, str, str, bool]] = []
    secrets: list[tuple[str, str]] = []
    for v in cfg.volumes:
        if v.kind == "volume":
            name = naming.volume_name(app.path, v.source or v.target)
            volumes.append(("volume", name, v.target, v.read_only))
        elif v.kind == "bind":
            volumes.append(("bind", v.source, v.target, v.read_only))
        else:
            host = naming.secret_path(app.path, v.content)
            secrets.append((host, v.content))
            volumes.append(("bind", host, v.target, True))
    return volumes, secrets


def _image_ref(image: str) -> str:
    return image if ":" in image.rsplit("/", 1)[-1] or "@" in image else image + ":latest"


def desired_app(app: App, naming: Naming, cache: DigestCache) -> DesiredApp | None:
    """The desired container state of one app; None for apps without a container."""
    cfg = app.container
    if cfg is None:
        return None
    if cfg.dev is not None and cfg.kind == "build":
        return _dev_app(app, cfg, cfg.dev, naming, cache)
    build: BuildInputs | None = None
    if cfg.kind == "build":
        input_hash, files, special = hash_build_inputs(
            context_dir=cfg.build_dir,
            containerfile=cfg.containerfile,
            build_args=cfg.build_args,
            cache=cache,
            exclude=frozenset(f for f in app.files if f.endswith(".star")),
        )
        image = naming.image_tag(app.path, input_hash)
        build = BuildInputs(
            context_dir=cfg.build_dir,
            containerfile=cfg.containerfile,
            build_args=cfg.build_args,
            input_hash=input_hash,
            files=files,
            special=special,
        )
    else:
        image = _image_ref(cfg.image)
    volumes, secrets = _mounts(app, cfg, naming)
    spec = ContainerSpec(
        image=image,
        port=cfg.port,
        command=cfg.command,
        env=cfg.env,
        volumes=tuple(volumes),
        cpus=cfg.cpus,
        memory=cfg.memory,
    )
    return _assemble(app, cfg, image, build, spec, secrets)


def _assemble(app: App, cfg: ContainerConfig, image: str, build: BuildInputs | None,
              spec: ContainerSpec, secrets: list[tuple[str, str]], *, mode: str = "normal",
              reload: str = "") -> DesiredApp:
    """The DesiredApp of either mode: what differs between them is the image, build and spec."""
    return DesiredApp(
        path=app.path,
        service=cfg.lifetime != "command",
        image=image,
        build=build,
        spec=spec,
        version=version_of(spec),
        scheme=cfg.scheme,
        health=_health_path(app),
        secret_files=tuple(secrets),
        spec_json=spec_json(spec),
        mode=mode,
        reload=reload,
        replicas=cfg.replicas,
        secret_env=frozenset(cfg.secret_env),
        alias=alias(app.path),
        idle_shutdown=app.entry.idle_shutdown,
    )


def _dev_app(app: App, cfg: ContainerConfig, dev: DevSettings, naming: Naming,
             cache: DigestCache) -> DesiredApp:
    """A dev-mode app: the dev image, and a container running the dev command in the mounted
    source (which replaces a volume at the same target, as do the additional mounts)."""
    input_hash, files, special = hash_dev_inputs(
        build_dir=cfg.build_dir,
        containerfile=cfg.containerfile,
        build_args=cfg.build_args,
        target=dev.target,
        env_files=[(rel, os.path.join(cfg.source_dir, rel)) for rel in dev.env_files],
        cache=cache,
    )
    image = naming.dev_image_tag(app.path, input_hash)
    build = BuildInputs(context_dir=cfg.build_dir, containerfile=cfg.containerfile,
                        build_args=cfg.build_args, input_hash=input_hash, files=files,
                        special=special, target=dev.target)
    volumes, secrets = _mounts(app, cfg, naming)
    extra = [("bind", cfg.source_dir, dev.dir, False)] + [
        ("volume", naming.volume_name(app.path, name), target, False)
        for name, target in dev.additional_mounts]
    taken = {target for _, _, target, _ in extra}
    volumes = [v for v in volumes if v[2] not in taken] + extra
    spec = ContainerSpec(
        image=image,
        port=dev.port or cfg.port,
        command=(dev.command,),
        env=cfg.env,
        volumes=tuple(volumes),
        cpus=cfg.cpus,
        memory=cfg.memory,
        entrypoint=("sh", "-c"),
        workdir=dev.dir,
    )
    return _assemble(app, cfg, image, build, spec, secrets, mode="dev", reload=dev.reload)


def alias_collisions(apps: list[App]) -> list[EvalError]:
    """An error for each service app whose network alias an app declared before it already
    has ("/a-b" and "/a/b" both answer to "a-b"), at its `app(...)` call, naming both."""
    first: dict[str, App] = {}
    errors: list[EvalError] = []
    for app in apps:
        if app.container is None or app.container.lifetime == "command":
            continue
        name = alias(app.path)
        other = first.setdefault(name, app)
        if other is app:
            continue
        where = f" (line {other.entry.line})" if other.entry.line else ""
        errors.append(EvalError(
            app.path, app.entry.file, app.entry.line, 1,
            f"apps {other.path}{where} and {app.path} would both answer to {name!r} on the app "
            f"network; rename one of them (an app path's alias is its segments joined by "
            f"'-'; {app.path} is left as it runs)"))
    return errors


def with_errors(result: EvalResult, errors: tuple[EvalError, ...]) -> EvalResult:
    """The evaluation with errors found after it (network alias collisions) added, their apps
    counted as failed: every command reports them as it reports evaluation errors."""
    if not errors:
        return result
    return replace(result, errors=result.errors + errors,
                   failed=result.failed | {e.app for e in errors})


def desired_state(result: EvalResult, naming: Naming, cache: DigestCache, *,
                  network: bool = True) -> DesiredState:
    """The planner's desired state. With the app `network`, an app whose alias collides with an
    earlier app's is held (left as it runs), with the error in `errors`."""
    apps: list[DesiredApp] = []
    errors = alias_collisions(list(result.apps)) if network else []
    held = set(result.failed) | {e.app for e in errors}
    for app in result.apps:
        try:
            d = desired_app(app, naming, cache)
        except OSError:
            # A build context that vanished mid-read: keep what runs, try again next pass.
            held.add(app.path)
            continue
        if d is not None:
            apps.append(d)
    declared = frozenset(a.path for a in result.apps) | frozenset(result.failed)
    return DesiredState(
        apps=tuple(apps), held=frozenset(held), declared=declared, prune=result.apps_file_ok,
        static=frozenset(a.path for a in result.apps if a.static_only and a.container is None),
        network=naming.network if network else "", errors=tuple(errors),
    )


def special_file_warnings(desired: DesiredState) -> tuple[EvalError, ...]:
    """One warning per FIFO, socket or device in a build context: ace never reads them (a FIFO
    would block the pass), and docker sends FIFOs and devices as empty entries, sockets not."""
    out: list[EvalError] = []
    for app in desired.apps:
        if app.build is None:
            continue
        for rel, kind in app.build.special:
            if kind == "socket":
                what = "docker leaves sockets out of the build"
            elif app.mode == "dev":  # the dev image's hash reads no context file
                what = f"docker sends it as an empty {kind} to build the dev image"
            else:
                what = f"docker sends it as an empty {kind}; ace hashes its name only"
            out.append(EvalError(
                app.path, os.path.join(app.build.context_dir, rel), 0, 0,
                f"{kind} {rel} in the build context is not read ({what}); add it to "
                ".dockerignore, or move it out of the build context",
            ))
    return tuple(out)
