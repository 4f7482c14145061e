"""Build-input and version hashes: canonical, stable across releases, .dockerignore-aware."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from reconciler.core.hashing import (
    DigestCache,
    context_files,
    hash_build_inputs,
    hash_dev_inputs,
    version_of,
)
from reconciler.core.types import ContainerSpec

T = TypeVar("T")


def _ctx(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("hello\n")
    (tmp_path / "Containerfile").write_text("FROM busybox\nCOPY index.html /www/\n")
    os.utime(tmp_path / "index.html", ns=(10**18, 10**18))
    return tmp_path


def _hash(ctx: Path, cache: DigestCache | None = None, args: tuple = ()) -> str:
    h, _, _ = hash_build_inputs(context_dir=str(ctx), containerfile=str(ctx / "Containerfile"),
                             build_args=args, cache=cache or DigestCache())
    return h


def test_version_hash_is_pinned() -> None:
    """A scheme change would replace every container users run: the value is pinned."""
    spec = ContainerSpec(image="busybox:latest", port=8080, env=(("A", "1"),))
    assert version_of(spec) == PINNED_VERSION
    assert version_of(ContainerSpec(image="busybox:latest", port=8080, env=(("A", "2"),))) != (
        PINNED_VERSION
    )


PINNED_VERSION = "9792333697dea7cdc41ee055b58b7de2b34fc5172d2cf452e46f9edfc60cfdc8"


def test_build_hash_is_pinned(tmp_path: Path) -> None:
    """Same files give the same hash on every machine and release (mtime does not count)."""
    assert _hash(_ctx(tmp_path)) == PINNED_BUILD


PINNED_BUILD = "bf76322a3484a35b26b5e4b36dffab22185405673837c708f9a07ee2d15115d8"


def test_content_change_changes_hash(tmp_path: Path) -> None:
    """Editing a context file or a build arg changes the hash; touching mtime does not."""
    ctx = _ctx(tmp_path)
    first = _hash(ctx)
    os.utime(ctx / "index.html", ns=(2 * 10**18, 2 * 10**18))
    assert _hash(ctx) == first
    assert _hash(ctx, args=(("X", "1"),)) != first
    (ctx / "index.html").write_text("changed\n")
    assert _hash(ctx) != first


def test_dockerignore_honoured(tmp_path: Path) -> None:
    """Ignored files neither appear in the manifest nor change the hash; `!` re-includes."""
    ctx = _ctx(tmp_path)
    (ctx / ".dockerignore").write_text("*.log\n!keep.log\nnode_modules\n")
    (ctx / "keep.log").write_text("k")
    base = _hash(ctx)
    (ctx / "debug.log").write_text("noise")
    (ctx / "node_modules").mkdir()
    (ctx / "node_modules" / "x.js").write_text("x")
    assert _hash(ctx) == base
    rels = [r for r, _, _ in context_files(str(ctx))]
    assert rels == [".dockerignore", "Containerfile", "index.html", "keep.log"]


def test_cache_avoids_reading_unchanged_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """With a warm cache an unchanged context is only stat()ed, never opened."""
    ctx = _ctx(tmp_path)
    cache = DigestCache()
    first = _hash(ctx, cache)
    warm = DigestCache(known=dict(cache.fresh))

    def no_open(*a: object, **k: object) -> None:
        raise AssertionError("file was read")

    monkeypatch.setattr("builtins.open", no_open)
    assert _hash(ctx, warm) == first
    assert warm.fresh == {}


def _bounded(fn: Callable[[], T], fifo: Path, seconds: float = 10.0) -> T:
    """fn() in a thread; a call still blocked after `seconds` fails the test (and is released
    by opening the FIFO's write end, so no thread stays stuck)."""
    out: list[T] = []
    worker = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        with open(fifo, "wb"):
            pass
        worker.join(5)
        pytest.fail(f"hashing blocked on the FIFO {fifo}")
    return out[0]


def test_special_files_are_never_opened(tmp_path: Path) -> None:
    """A FIFO and a unix socket in a context: hashing returns at once, names both as special,
    counts the FIFO by name and kind (docker sends it empty) and leaves the socket out."""
    ctx = _ctx(tmp_path)
    before = _hash(ctx)
    os.mkfifo(ctx / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(ctx / "app.sock"))
        h, manifest, special = _bounded(lambda: hash_build_inputs(
            context_dir=str(ctx), containerfile=str(ctx / "Containerfile"), build_args=(),
            cache=DigestCache()), ctx / "pipe")
    assert special == (("app.sock", "socket"), ("pipe", "fifo"))
    assert ("pipe", "fifo") in manifest
    assert all(rel != "app.sock" for rel, _ in manifest)
    assert h != before
    os.remove(ctx / "pipe")
    assert _hash(ctx) == before  # a socket alone leaves the hash as it was


def test_file_swapped_for_fifo_after_lstat_does_not_block(tmp_path: Path) -> None:
    """A file that became a FIFO between the walk's lstat and the read is an OSError (the app
    is held for this pass), not a read that waits for a writer."""
    ctx = _ctx(tmp_path)
    st = os.lstat(ctx / "index.html")
    os.remove(ctx / "index.html")
    os.mkfifo(ctx / "index.html")

    def digest() -> str:
        try:
            return DigestCache().digest(str(ctx / "index.html"), st)
        except OSError as exc:
            return f"error: {exc}"

    assert _bounded(digest, ctx / "index.html").startswith("error:")


def _dev_hash(ctx: Path, containerfile: Path) -> tuple[str, tuple, tuple]:
    return hash_dev_inputs(build_dir=str(ctx), containerfile=str(containerfile), build_args=(),
                           target="dev", env_files=[("requirements.txt",
                                                     str(ctx / "requirements.txt"))],
                           cache=DigestCache())


def test_dev_hash_never_opens_special_files(tmp_path: Path) -> None:
    """A dev image's hash counts a FIFO env file by its kind without opening it, lists the
    build dir's FIFOs and sockets (docker sends that dir to build the dev image), and a
    container file that is a FIFO is an OSError (the app held), never a wait for a writer."""
    ctx = _ctx(tmp_path)
    absent, _, none = _dev_hash(ctx, ctx / "Containerfile")
    assert none == ()
    os.mkfifo(ctx / "requirements.txt")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(ctx / "app.sock"))
        h, manifest, special = _bounded(lambda: _dev_hash(ctx, ctx / "Containerfile"),
                                        ctx / "requirements.txt")
    assert dict(manifest)["requirements.txt"] == "fifo" and h != absent
    assert special == (("app.sock", "socket"), ("requirements.txt", "fifo"))
    os.mkfifo(ctx / "Devfile")

    def hash_fifo_containerfile() -> str:
        try:
            return _dev_hash(ctx, ctx / "Devfile")[0]
        except OSError as exc:
            return f"error: {exc}"

    assert _bounded(hash_fifo_containerfile, ctx / "Devfile").startswith("error:")


def test_dev_manifest_names_the_container_file(tmp_path: Path) -> None:
    """A dev image's manifest (what plan causes compare) lists its container file with the
    env files, so an edit of it is named as the cause; the hash changes with it."""
    ctx = _ctx(tmp_path)
    (ctx / "requirements.txt").write_text("flask\n")
    h1, m1, _ = _dev_hash(ctx, ctx / "Containerfile")
    (ctx / "Containerfile").write_text("FROM busybox\nRUN false\n")
    h2, m2, _ = _dev_hash(ctx, ctx / "Containerfile")
    assert [rel for rel, _ in m1] == ["Containerfile", "requirements.txt"]
    assert dict(m1)["Containerfile"] != dict(m2)["Containerfile"] and h1 != h2
    assert dict(m1)["requirements.txt"] == dict(m2)["requirements.txt"]
