"""Build-input and version hashes: canonical, stable across releases, .dockerignore-aware."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core.hashing import DigestCache, context_files, hash_build_inputs, version_of
from reconciler.core.types import ContainerSpec


def _ctx(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("hello\n")
    (tmp_path / "Containerfile").write_text("FROM busybox\nCOPY index.html /www/\n")
    os.utime(tmp_path / "index.html", ns=(10**18, 10**18))
    return tmp_path


def _hash(ctx: Path, cache: DigestCache | None = None, args: tuple = ()) -> str:
    h, _ = hash_build_inputs(context_dir=str(ctx), containerfile=str(ctx / "Containerfile"),
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
