"""An engine with no address range left for another network: ace's error says what to do.

A private dockerd (tests/engine/watchkit.SecondEngine) whose one default address pool holds a
single /24, so its second bridge network cannot be made: the real engine's own message, with
ace's advice after it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.errors import EngineError
from reconciler.core.types import LABEL_INSTALL
from reconciler.driver.engine import DockerEngine
from tests.engine.watchkit import SecondEngine

POOL = "10.232.250.0/24"


def _free_the_pool() -> None:
    """A bridge of this test's range left by an interrupted run holds it: delete it."""
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                           check=True, timeout=30).stdout
    for line in shown.splitlines():
        name = line.split()[1]
        if name.startswith("br-") and f" {POOL.rsplit('.', 1)[0]}." in line:
            subprocess.run(["ip", "link", "del", name], check=False, timeout=30)


@pytest.fixture
def one_pool_engine(tmp_path: Path) -> Iterator[SecondEngine]:
    _free_the_pool()
    eng = SecondEngine(Path("/tmp") / f"ace-pool-{tmp_path.name[-20:]}", bridge="acepool0",
                       bridge_cidr="10.231.9.1/24",
                       args=("--default-address-pool", f"base={POOL},size=24"))
    eng.root.mkdir(parents=True, exist_ok=True)
    try:
        eng.setup_bridge()
        eng.start()
        yield eng
    finally:
        eng.cleanup()


def test_no_address_pool_left_says_what_to_do(one_pool_engine: SecondEngine,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The first network takes the only range; the second fails naming the network, the
    engine's reason and the way out; once the first is removed, the second is made."""
    monkeypatch.setenv("DOCKER_HOST", one_pool_engine.host)
    engine = DockerEngine(timeout=30)
    labels = {LABEL_INSTALL: "acetest-pool"}
    engine.ensure_network("ace-pool-first", labels)
    with pytest.raises(EngineError) as err:
        engine.ensure_network("ace-pool-second", labels)
    text = str(err.value)
    assert text.startswith("ensure network ace-pool-second: ")
    assert "address pool" in text, "the engine's own reason is kept"
    assert "docker network prune" in text and "default-address-pools" in text
    assert engine.remove_network("ace-pool-first")
    assert engine.ensure_network("ace-pool-second", labels)
