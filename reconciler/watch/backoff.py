"""Bookkeeping values of `ace watch`, all frozen and updated by pure functions given `now`:

- `Attempts` per app: failed tries and crashes of the same desired version back off
  exponentially (1 s doubling, capped), reset after a healthy period, a try that went well, or
  a new save. A crash is a container that exited by itself: during its health wait, or less
  than `Backoff.healthy_reset` seconds after it (re)started (a restart finds it so). Two in a
  row are a crash loop. A failed build or a new version never healthy backs off too, and is
  no crash loop;
- `hold_back(plan, ...)`: the plan without the retry steps of apps that are backing off (a filter
  of the Plan value; the planner still decides everything);
- `Probes` per app: consecutive failed health probes of the running container; after
  `unhealthy_after` of them the container is reported unhealthy to the planner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.apply.executor import StepOutcome
from reconciler.core.types import DesiredApp, Plan, Step

__all__ = [
    "RETRY_ACTIONS",
    "Attempts",
    "Backoff",
    "Probe",
    "crash_details",
    "crash_of",
    "desired_key",
    "hold_back",
    "record_attempts",
    "record_probes",
    "settle",
    "unhealthy_marks",
]

RETRY_ACTIONS = frozenset({"build", "pull", "start", "restart", "replace", "scale"})
_CONTAINER_ACTIONS = frozenset({"start", "restart", "replace"})
_EXIT = re.compile(r"Exited \((-?\d+)\)")
_LOGS = "last log lines:\n"


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 1.0
    cap: float = 60.0
    healthy_reset: float = 30.0  # also: a container that ran less than this and exited crashed

    def delay(self, count: int) -> float:
        return float(min(self.first * 2 ** max(count - 1, 0), self.cap))


@dataclass(frozen=True, slots=True)
class Attempts:
    app: str
    key: str  # desired version + image: a new save starts afresh
    count: int  # failed or crashed tries in a row
    last: float  # when the last attempt was made
    until: float  # no retry before this
    failed: bool = False  # the last attempt failed
    exit_code: str = ""  # of the last crash
    logs: str = ""  # last log lines of the last crash
    crashed: bool = False  # the last attempt saw the app's container exit by itself

    def holding(self, key: str, now: float) -> bool:
        return self.key == key and now < self.until

    @property
    def crash_looping(self) -> bool:
        return self.crashed and self.count >= 2


@dataclass(frozen=True, slots=True)
class Probe:
    app: str
    container: str
    fails: int
    detail: str = ""


def desired_key(app: DesiredApp) -> str:
    return f"{app.version}:{app.image}"


def hold_back(
    plan: Plan, attempts: Mapping[str, Attempts], keys: Mapping[str, str], now: float
) -> tuple[Plan, tuple[str, ...]]:
    """Drop retry steps of apps still backing off, and any step depending on a dropped one.
    Returns the filtered plan and the apps held."""
    held = {app for app, a in attempts.items() if app in keys and a.holding(keys[app], now)}
    dropped: set[str] = set()
    kept: list[Step] = []
    for s in plan.steps:
        retry = s.action in RETRY_ACTIONS and not s.reload
        if (s.app in held and retry) or dropped.intersection(s.depends_on):
            dropped.add(s.id)
            continue
        kept.append(s)
    touched = tuple(sorted({s.app for s in plan.steps if s.id in dropped}))
    return Plan(tuple(kept), plan.noops), touched


def crash_details(message: str, status: str = "") -> tuple[str, str]:
    """(exit code, last log lines) from a failed step's message or a container status."""
    m = _EXIT.search(message) or _EXIT.search(status)
    logs = message.split(_LOGS, 1)[1] if _LOGS in message else ""
    return (m.group(1) if m else ""), logs


def crash_of(o: StepOutcome, window: float) -> tuple[str, str] | None:
    """(exit code, last log lines) when the step saw the app's container exit by itself: the
    container it started exited during the health wait, or a restart found the container of
    this version exited less than `window` seconds after it started. Else None: a build or
    pull runs no container of the app, so its failure is never a crash (whatever its output
    says)."""
    if o.step.action not in _CONTAINER_ACTIONS:
        return None
    if o.outcome == "failed":
        code, logs = crash_details(o.message)
        if code:
            return code, logs
    short = o.ran_for is not None and o.ran_for < window
    if o.step.action == "restart" and o.exit_code and short:
        return o.exit_code, o.logs
    return None


def record_attempts(
    attempts: Mapping[str, Attempts], outcomes: Iterable[StepOutcome], keys: Mapping[str, str],
    now: float, backoff: Backoff = Backoff(),
) -> dict[str, Attempts]:
    """Count a try of each app whose retry steps (not skipped) failed or saw a crash this pass;
    an app whose retry steps all went well without a crash is forgotten."""
    by_app: dict[str, list[StepOutcome]] = {}
    for o in outcomes:
        if o.step.action in RETRY_ACTIONS and not o.step.reload and o.outcome != "skipped":
            by_app.setdefault(o.step.app, []).append(o)
    out = dict(attempts)
    for app, runs in by_app.items():
        failed = any(o.outcome == "failed" for o in runs)
        crash = next((c for o in runs if (c := crash_of(o, backoff.healthy_reset))), None)
        if not failed and crash is None:
            out.pop(app, None)
            continue
        key = keys.get(app, "")
        prev = attempts.get(app)
        count = prev.count + 1 if prev is not None and prev.key == key else 1
        code, logs = crash or ("", "")
        out[app] = Attempts(app, key, count, now, now + backoff.delay(count), failed, code, logs,
                            crash is not None)
    return out


def settle(
    attempts: Mapping[str, Attempts], healthy: Iterable[str], keys: Mapping[str, str],
    now: float, backoff: Backoff = Backoff(),
) -> dict[str, Attempts]:
    """Forget attempts of apps healthy for `healthy_reset` seconds since their last attempt, and
    of apps no longer declared."""
    ok = set(healthy)
    return {app: a for app, a in attempts.items()
            if app in keys and not (app in ok and now - a.last >= backoff.healthy_reset)}


def record_probes(
    probes: Mapping[str, Probe], results: Mapping[str, tuple[str, bool, str]]
) -> dict[str, Probe]:
    """results: app -> (container id, ok, detail). Consecutive failures count per container."""
    out: dict[str, Probe] = {}
    for app, (cid, ok, detail) in results.items():
        prev = probes.get(app)
        fails = 0 if ok else (prev.fails + 1 if prev and prev.container == cid else 1)
        out[app] = Probe(app, cid, fails, detail)
    return out


def unhealthy_marks(probes: Mapping[str, Probe], threshold: int) -> dict[str, str]:
    """container id -> "unhealthy: detail" for containers failing `threshold` probes in a row."""
    return {p.container: f"unhealthy: {p.detail} ({p.fails} probes in a row)"
            for p in probes.values() if threshold > 0 and p.fails >= threshold}
