"""Frozen values that the Starlark front end produces: the desired state of every app.

Nothing here knows Docker or SQLite. Every path is absolute. Values are JSON-compatible so that
`to_json()` gives the `ace config --json` document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from apps.errors import where

__all__ = [
    "as_text",
    "Action",
    "App",
    "AppEntry",
    "ContainerConfig",
    "DevSettings",
    "EvalError",
    "EvalResult",
    "Permission",
    "Route",
    "SECRET_MASK",
    "STATIC_INDEX",
    "Volume",
]

Pairs = tuple[tuple[str, str], ...]
Reload = Literal["none", "restart", "recreate"]
SECRET_MASK = "***"  # what ace shows for a value that holds a resolved {{secret}}
STATIC_INDEX = "index.html"  # what a static app serves for its root when it names no index



def as_text(value: Any) -> str:
    """How a Starlark value becomes text wherever a string is needed (container environment,
    build args, templates, permission patterns): strings as given, booleans as true/false,
    numbers as written, anything else as canonical JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)

@dataclass(frozen=True, slots=True)
class Volume:
    """One mount. kind: "volume" (named engine volume; source "" = app-scoped, named after the
    target), "bind" (source is an absolute host path) or "secret" (source is the absolute template
    path, content its rendering; always read-only)."""

    kind: Literal["volume", "bind", "secret"]
    source: str
    target: str
    read_only: bool = False
    content: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "source": self.source,
            "target": self.target,
            "read_only": self.read_only,
        }
        return d


@dataclass(frozen=True, slots=True)
class DevSettings:
    """How a dev-mode app runs from its source (OpenRun's `dev_settings`, resolved).

    Build the container file's `target` stage, bind-mount the app source at `dir` (also the
    working directory) and run `command` with `sh -c` ("" = none: the image's own). `reload` is
    what a source change does: "none" (the app's own reloader sees the mounted file), "restart"
    (restart the same container) or "recreate" (a new container). `env_files` (relative to the
    source) define the dev image: their content changes rebuild it. `additional_mounts` are
    (volume name, target) pairs that outlive the container. `port` is the port the dev command
    listens on. `inferred` names the keys ace filled in because dev_settings did not give them
    (target/dir/command from the container file, reload/port from defaults)."""

    target: str
    dir: str
    command: str
    reload: Reload = "restart"
    env_files: tuple[str, ...] = ()
    additional_mounts: tuple[tuple[str, str], ...] = ()
    port: int = 0
    inferred: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "dir": self.dir,
            "command": self.command,
            "reload": self.reload,
            "env_files": list(self.env_files),
            "additional_mounts": [
                {"name": name, "target": target} for name, target in self.additional_mounts
            ],
            "port": self.port,
            "inferred": list(self.inferred),
        }


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """What `container.config(...)` resolved to for one app."""

    kind: Literal["build", "image"]
    image: str  # the image reference for kind "image"; "" for builds
    source_dir: str  # absolute app source dir ("" for image apps without source)
    containerfile: str  # absolute path of the container file for builds; "" for image
    build_dir: str  # absolute build context directory for builds; "" for image
    port: int  # 0 only for command-lifetime apps without a port
    scheme: str = "http"
    health: str = "/"
    lifetime: Literal["app", "command"] = "app"
    volumes: tuple[Volume, ...] = ()
    build_args: Pairs = ()
    env: Pairs = ()  # sorted by name
    cpus: float | None = None
    memory: int | None = None  # bytes
    replicas: int = 1  # container_opts min_replicas: tasks on a cluster (one engine runs one)
    command: tuple[str, ...] = ()  # replaces the image CMD when set (ace extension, see README)
    dev: DevSettings | None = None  # set only when the app runs in dev mode and it can
    dev_note: str = ""  # dev mode only: why the app runs the normal way ("" when it does not)
    secret_env: tuple[str, ...] = ()  # env names whose value holds a {{secret}}: shown masked

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "image": self.image,
            "source_dir": self.source_dir,
            "containerfile": self.containerfile,
            "build_dir": self.build_dir,
            "port": self.port,
            "scheme": self.scheme,
            "health": self.health,
            "lifetime": self.lifetime,
            "volumes": [v.to_json() for v in self.volumes],
            "build_args": dict(self.build_args),
            "env": {k: SECRET_MASK if k in self.secret_env else v for k, v in self.env},
            "cpus": self.cpus,
            "memory": self.memory,
            "replicas": self.replicas,
            "command": list(self.command),
            "dev": self.dev.to_json() if self.dev else None,
            "dev_note": self.dev_note,
        }


@dataclass(frozen=True, slots=True)
class Route:
    """An `ace.proxy(path, proxy.config(url, ...))` route."""

    path: str
    url: str  # "<CONTAINER_URL>" means this app's container
    strip_path: str = ""
    preserve_host: bool = False
    strip_app: bool = True
    response_headers: Pairs = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "url": self.url,
            "strip_path": self.strip_path,
            "preserve_host": self.preserve_host,
            "strip_app": self.strip_app,
            "response_headers": dict(self.response_headers),
        }


@dataclass(frozen=True, slots=True)
class Permission:
    plugin: str
    method: str
    arguments: tuple[str, ...] = ()
    type: str = ""
    secrets: tuple[tuple[str, ...], ...] = ()
    permit: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "method": self.method,
            "arguments": list(self.arguments),
            "type": self.type,
            "secrets": [list(s) for s in self.secrets],
        }


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    path: str
    description: str = ""
    hidden: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "hidden": list(self.hidden),
        }


@dataclass(frozen=True, slots=True)
class AppEntry:
    """One `app(...)` call of the apps file, before the app's own files are evaluated."""

    path: str
    source: str  # absolute directory, or "-"
    spec: str = ""
    params: Pairs = ()  # supplied values as strings (non-strings JSON-encoded)
    container_opts: Pairs = ()
    container_args: Pairs = ()
    container_vols: tuple[str, ...] = ()
    dev: bool = False
    file: str = ""  # the apps file
    line: int = 0
    # app_config "container.idle_shutdown_secs": seconds without traffic before `ace watch` /
    # `ace serve` stop the app (0: never); None: the loop's --idle-shutdown
    idle_shutdown: float | None = None


@dataclass(frozen=True, slots=True)
class App:
    """The evaluated desired state of one app."""

    entry: AppEntry
    name: str
    params: tuple[tuple[str, Any], ...]  # typed values in declaration order (JSON-compatible)
    routes: tuple[Route, ...] = ()
    permissions: tuple[Permission, ...] = ()
    actions: tuple[Action, ...] = ()
    container: ContainerConfig | None = None
    settings: tuple[tuple[str, Any], ...] = ()
    files: tuple[str, ...] = ()  # absolute paths of every file the evaluation read
    redirect_bare_path: bool = False  # the proxy answers /app with a redirect to /app/
    static_only: bool = False  # ace.app(static_only=True): the app serves its source's files
    index: str = ""  # static apps: the file served for the app's root ("" = index.html)
    single_file: bool = False  # static apps: serve only `index`
    # Problems that do not stop the app, each located at the app's app(...) call in the apps
    # file (see apps.locate.app_warnings); e.g. params not declared in params.star.
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return self.entry.path

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.entry.path,
            "name": self.name,
            "source": self.entry.source,
            "spec": self.entry.spec,
            "dev": self.entry.dev,
            "params": dict(self.params),
            "actions": [a.name for a in self.actions],
            "routes": [r.to_json() for r in self.routes],
            "permissions": [p.to_json() for p in self.permissions],
            "container": self.container.to_json() if self.container else None,
            "settings": dict(self.settings),
            "redirect_bare_path": self.redirect_bare_path,
            "static_only": self.static_only,
            "index": self.index,
            "single_file": self.single_file,
            "static": self.static_json(),
            "files": list(self.files),
        }

    def static_json(self) -> dict[str, Any] | None:
        """A static app's serving settings (None for other apps): the index served, whether it
        is served for every path, and the directory whose files are served ("" for none)."""
        if not self.static_only:
            return None
        source = self.entry.source
        return {"index": self.index or STATIC_INDEX, "single_file": self.single_file,
                "root": "" if source in ("", "-") else source}


@dataclass(frozen=True, slots=True)
class EvalError:
    """A located error: app path ("" for the apps file itself), file, 1-based line and column."""

    app: str
    file: str
    line: int
    column: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }

    @property
    def where(self) -> str:
        return where(self.file, self.line, self.column)

    def __str__(self) -> str:
        return f"{self.app or '(apps file)'}: {self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class EvalResult:
    """Everything one evaluation of the apps file produced. `apps` holds the apps that evaluated;
    every app that did not has at least one entry in `errors` (with its path in `failed`)."""

    apps: tuple[App, ...]
    errors: tuple[EvalError, ...]
    failed: frozenset[str] = frozenset()  # declared app paths that did not evaluate
    apps_file_ok: bool = True  # False: the apps file itself failed; nothing may be torn down
    files: tuple[str, ...] = ()  # files read for the apps file itself
    # e.g. OpenRun apps-file keywords ace ignores, params not declared in params.star
    warnings: tuple[EvalError, ...] = ()
    runtimes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "apps": [a.to_json() for a in self.apps],
            "errors": [e.to_json() for e in self.errors],
            "warnings": [w.to_json() for w in self.warnings],
        }
