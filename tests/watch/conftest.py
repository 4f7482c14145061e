"""Fixtures of the watch loop tests: `engine` is a ServingFake (it shadows the root conftest's
real engine here; closed after the test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apply.kit import ServingFake


@pytest.fixture
def engine() -> Iterator[ServingFake]:
    """A ServingFake whose HTTP servers are shut after the test."""
    e = ServingFake()
    yield e
    e.close()
