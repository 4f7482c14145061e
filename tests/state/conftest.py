from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from state import Store


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path) -> Iterator[Store]:
    with Store.open(state_dir) as s:
        yield s
