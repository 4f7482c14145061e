"""Fixtures of the executor tests: `engine` is a ServingFake (it shadows the root conftest's
real engine here; closed after the test), `store` a fresh state database in the test's tmp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from state import Store
from tests.apply.kit import ServingFake


@pytest.fixture
def engine() -> Iterator[ServingFake]:
    """A ServingFake whose HTTP servers are shut after the test."""
    e = ServingFake()
    yield e
    e.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A state database of its own, closed after the test."""
    with Store.open(tmp_path / "state") as s:
        yield s
