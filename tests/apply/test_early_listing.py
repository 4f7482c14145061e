"""A pass that evaluates reads the container listing on a thread of its own meanwhile: the
listing does not depend on the desired state, so the two overlap (a no-op is ~7% quicker)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import apps
from apps.errors import EngineError
from reconciler.apply import pipeline
from reconciler.apply.pipeline import Settings, prepare
from reconciler.core.types import ObservedContainer
from state import Store
from tests.fakes import FakeEngine

APP = """load("container.in", "container")
app = ace.app("Web", container=container.config("image:busybox", port=8080))
"""


class GatedListing(FakeEngine):
    """A listing that says when it began, and fails when told to."""

    def __init__(self, error: str = "") -> None:
        super().__init__()
        self.began = threading.Event()
        self.error = error

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        self.began.set()
        if self.error:
            raise EngineError(self.error, retryable=True)
        return super().list_containers(install)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "app.star").write_text(APP)
    (tmp_path / "apps.star").write_text('app("/web", "./web")\n')
    return Settings(apps_file=tmp_path / "apps.star", state_dir=tmp_path / ".ace")


def evaluation_waiting_for(engine: GatedListing, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluation goes on only once the listing has begun: were they one after the
    other, it would wait in vain."""
    evaluate = apps.evaluate_cached

    def waiting(*a: Any, **kw: Any) -> Any:
        assert engine.began.wait(10), "the listing did not begin while the pass evaluated"
        return evaluate(*a, **kw)

    monkeypatch.setattr(pipeline.apps, "evaluate_cached", waiting)


def test_the_listing_overlaps_the_evaluation(settings: Settings,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    engine = GatedListing()
    evaluation_waiting_for(engine, monkeypatch)
    with Store.open(settings.state_dir) as store:
        prepared = prepare(settings, store, engine)
    assert [s.app for s in prepared.plan.steps if s.action == "start"] == ["/web"]
    assert engine.calls["list_containers"] == 1


def test_a_failed_early_listing_fails_the_pass_as_before(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = GatedListing(error="list containers: the Docker engine is not answering")
    evaluation_waiting_for(engine, monkeypatch)
    with Store.open(settings.state_dir) as store, pytest.raises(EngineError) as err:
        prepare(settings, store, engine)
    assert str(err.value) == "list containers: the Docker engine is not answering"


def test_a_given_evaluation_lists_after_it(settings: Settings) -> None:
    """`ace watch` hands its own evaluation in: nothing to overlap, the listing is read in
    the pass's thread."""
    engine = GatedListing()
    threads: list[str] = []
    original = engine.list_containers

    def listing(install: str) -> tuple[ObservedContainer, ...]:
        threads.append(threading.current_thread().name)
        return original(install)

    engine.list_containers = listing  # type: ignore[method-assign]
    result = apps.evaluate(settings.apps_file)
    with Store.open(settings.state_dir) as store:
        prepare(settings, store, engine, evaluation=result)
    assert threads == [threading.current_thread().name]
