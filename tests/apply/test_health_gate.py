"""The health gate of a new container: how soon it sees an app that takes a while to answer, and
how often it asks the engine whether the container still runs (on a simulated clock)."""

from __future__ import annotations

import pytest

from reconciler.apply import health


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _app_ready_at(clock: _Clock, ready: float, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Probes answer 200 from `ready` seconds on; returns when each probe was made."""
    probes: list[float] = []
    start = clock.now

    def probe(scheme: str, port: int, path: str, *, timeout: float = 2.0,
              host: str = "127.0.0.1") -> tuple[int, str]:
        probes.append(clock.now - start)
        return (200, "200 OK") if clock.now - start >= ready else (0, "ConnectionResetError")

    monkeypatch.setattr(health, "probe", probe)
    return probes


@pytest.mark.parametrize("ready", [0.0, 0.35, 1.3, 7.0])
def test_an_app_is_seen_healthy_soon_after_it_answers(ready: float,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Whenever the app starts answering, the gate sees it within 100 ms (a doubling pause
    without a cap saw an app ready at 1.3 s only at 2.55 s)."""
    clock = _Clock()
    _app_ready_at(clock, ready, monkeypatch)
    result = health.wait_healthy(scheme="http", port=1, path="/", deadline_s=60,
                                 exited=lambda: None, sleep=clock.sleep, clock=clock)
    assert result.ok
    assert ready <= result.seconds <= ready + health.MAX_POLL + 1e-9


def test_the_engine_is_asked_at_most_every_half_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a 10 s wait the container's state is read 15-21 times (once at the first
    failed probe, then every half second), not once per probe."""
    clock = _Clock()
    probes = _app_ready_at(clock, 10.0, monkeypatch)
    asked: list[float] = []

    def exited() -> str | None:
        asked.append(clock.now)
        return None

    result = health.wait_healthy(scheme="http", port=1, path="/", deadline_s=60,
                                 exited=exited, sleep=clock.sleep, clock=clock)
    assert result.ok and len(probes) > 90
    assert 15 <= len(asked) <= 21
    assert all(b - a >= health.EXIT_CHECK - 1e-9 for a, b in zip(asked, asked[1:], strict=False))


def test_a_container_that_exits_fails_the_gate_at_the_first_failed_probe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A container already gone when the first probe fails ends the wait at once."""
    clock = _Clock()
    _app_ready_at(clock, 5.0, monkeypatch)
    result = health.wait_healthy(scheme="http", port=1, path="/", deadline_s=60,
                                 exited=lambda: "Exited (1)", sleep=clock.sleep, clock=clock)
    assert not result.ok and result.attempts == 1
    assert result.detail == "container exited: Exited (1)"
