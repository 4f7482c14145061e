"""Benchmark `ace watch`: save-to-serving latency against the raw docker build + run + first 200
of the same change, measured in one run; then the idle cost of watching many apps.

Run: python tests/bench/bench_watch.py [--repeat 5] [--apps 100] [--idle 30] [--runs 3]
                                       [--json FILE]
Needs a Docker engine and a local busybox:latest. A run on a loaded machine is refused unless
--allow-load (tests/bench/README.md).

Latency: ace is timed from writing index.html until the new content is served at ace's stable
proxy address (`ace watch --listen`, the URL a person keeps open); raw is `docker build` (with
the builder ace picks: BuildKit when a client has it) + `docker run -d` + polling the published
port until the new content answers, on a copy of the same context. Runs alternate so both see
the same machine. Idle: with N apps converged, RSS and CPU of the watch process over a
window, with engine events and state-db writes counted (both should be zero).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.errors import EngineError  # noqa: E402
from reconciler.driver.buildkit import find_buildkit_cli  # noqa: E402
from state.db import derive_install_id  # noqa: E402
from tests.bench import quiet  # noqa: E402
from tests.engine.appkit import WEB_APP_STAR, WEB_CONTAINERFILE, WEB_PARAMS  # noqa: E402
from tests.engine.watchkit import WatchProc  # noqa: E402

SERVE = "mkdir -p /w && echo $N > /w/index.html && exec httpd -f -p 8080 -h /w"
IDLE_APP_STAR = (
    'load("container.in", "container")\n'
    'app = ace.app("svc " + param.N, container=container.config(\n'
    f'    "image:busybox", port=8080, command=["sh", "-c", {SERVE!r}]))\n'
)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as r:
            return r.read().decode() if r.status == 200 else None
    except OSError:
        return None


def _until(pred: object, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise TimeoutError("condition not met")


def _web(root: Path) -> None:
    (root / "web").mkdir(parents=True)
    (root / "web/Containerfile").write_text(WEB_CONTAINERFILE)
    (root / "web/index.html").write_text("v0\n")
    (root / "web/app.star").write_text(WEB_APP_STAR)
    (root / "web/params.star").write_text(WEB_PARAMS)
    (root / "apps.star").write_text('app("/web", "./web")\n')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ace_latency(w: WatchProc, root: Path, body: str, proxy: str) -> tuple[float, float]:
    """(save-to-serving seconds at ace's stable proxy address — what a person's browser hits —,
    of which the image build took)."""
    seen = len(w.events)
    t0 = time.perf_counter()
    (root / "web/index.html").write_text(body)

    def served() -> bool:
        return _get(f"{proxy}/web/index.html") == body

    _until(served, 60)
    took = time.perf_counter() - t0
    build = sum(e.get("seconds", 0.0) for e in w.events[seen:]
                if e["event"] == "step_done" and e.get("action") == "build")
    return took, build


def _builder() -> tuple[str, dict[str, str]]:
    """The same builder ace's driver picks: a BuildKit-capable CLI when there is one."""
    try:
        cli = find_buildkit_cli(os.environ)
    except EngineError:
        return "docker", {**os.environ, "DOCKER_BUILDKIT": "0"}
    return cli, {**os.environ, "DOCKER_BUILDKIT": "1"}


def raw_latency(ctx: Path, body: str, tag: str) -> float:
    cli, env = _builder()
    t0 = time.perf_counter()
    (ctx / "index.html").write_text(body)
    labels = [a for k in ("dev.ace.managed=1", "dev.ace.install=bench", "dev.ace.app=/web",
                          "dev.ace.inputs=x") for a in ("--label", k)]  # as ace labels images
    subprocess.run([cli, "build", "-q", *labels, "-f", "Containerfile", "-t", tag, "."],
                   cwd=ctx, check=True, capture_output=True, env=env)
    cid = subprocess.run(["docker", "run", "-d", "--init", "-p", "127.0.0.1::8080", tag],
                         check=True, capture_output=True, text=True).stdout.strip()
    port = subprocess.run(["docker", "port", cid, "8080/tcp"], check=True, capture_output=True,
                          text=True).stdout.split(":")[-1].strip()
    _until(lambda: _get(f"http://127.0.0.1:{port}/index.html") == body, 60)
    took = time.perf_counter() - t0
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return took


def bench_latency(repeat: int) -> quiet.Figures:
    root = Path(tempfile.mkdtemp(prefix="ace-bench-watch-"))
    _web(root)
    raw_ctx = root / "raw"
    shutil.copytree(root / "web", raw_ctx)
    port = _free_port()
    proxy = f"http://127.0.0.1:{port}"
    w = WatchProc(root / "apps.star", "--resync", "5", "--listen", f"127.0.0.1:{port}")
    try:
        _until(lambda: _get(f"{proxy}/web/index.html") == "v0\n", 120)
        raw_latency(raw_ctx, "warm\n", "ace-bench-raw:warm")  # warm the builder cache
        ace, raw, loop = [], [], []
        for i in range(repeat):
            took, steps = ace_latency(w, root, f"ace {i} {time.time()}\n", proxy)
            ace.append(took)
            loop.append(took - steps)
            raw.append(raw_latency(raw_ctx, f"raw {i} {time.time()}\n", f"ace-bench-raw:{i}"))
            time.sleep(1.0)
        a, r, o = statistics.median(ace), statistics.median(raw), statistics.median(loop)
        print(f"save-to-serving, median of {repeat}: ace {a:.3f} s, raw docker {r:.3f} s, "
              f"overhead {a - r:+.3f} s (ratio {a / r:.2f})")
        print(f"  ace besides the image build: {o:.3f} s (file event, debounce, evaluation, "
              f"plan, container start, health check, proxy switch)")
        print("  ace:  " + " ".join(f"{x:.3f}" for x in ace))
        print("  raw:  " + " ".join(f"{x:.3f}" for x in raw))
        print("  ace besides the build: " + " ".join(f"{x:.3f}" for x in loop))
        return {"ace_s": round(a, 4), "raw_s": round(r, 4), "overhead_s": round(a - r, 4),
                "ratio": round(a / r, 4), "ace_besides_build_s": round(o, 4),
                "ace_saves_s": ace, "raw_saves_s": raw, "ace_besides_build_saves_s": loop}
    finally:
        w.stop()
        subprocess.run([sys.executable, "-m", "reconciler", "down", "--images", "-f",
                        str(root / "apps.star")], capture_output=True)
        ids = subprocess.run(["docker", "images", "-q", "ace-bench-raw"], capture_output=True,
                             text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rmi", "-f", *ids], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _db_stamp(state: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                 for p in sorted(state.glob("ace.db*")))


def bench_idle(apps: int, window: float) -> quiet.Figures:
    root = Path(tempfile.mkdtemp(prefix="ace-bench-idle-"))
    (root / "svc").mkdir()
    (root / "svc/app.star").write_text(IDLE_APP_STAR)
    (root / "svc/params.star").write_text('param("N", default="0")\n')
    (root / "apps.star").write_text("".join(
        f'app("/s{i}", "./svc", params={{"N": "v{i}"}})\n' for i in range(apps)))
    w = WatchProc(root / "apps.star", "--resync", "5", "--parallel", "8")
    try:
        t0 = time.monotonic()
        _until(lambda: (rows := w.named("status")) and sum(
            r["state"] == "running" for r in rows[-1]["apps"]) == apps, 600)
        converged = time.monotonic() - t0
        print(f"idle: {apps} apps converged in {converged:.1f} s")
        time.sleep(6)  # one resync with health probes after convergence
        pid = w.proc.pid
        db0, cpu0, t_start = _db_stamp(root / ".ace"), _cpu_seconds(pid), time.time()
        time.sleep(window)
        cpu = (_cpu_seconds(pid) - cpu0) / window * 100
        install = derive_install_id(root / ".ace")
        events = subprocess.run(
            ["docker", "events", "--since", str(int(t_start)), "--until", str(int(time.time())),
             "--filter", f"label=dev.ace.install={install}"],
            capture_output=True, text=True).stdout.splitlines()
        rss, db_changed = _rss_mb(pid), _db_stamp(root / ".ace") != db0
        print(f"idle over {window:.0f} s: RSS {rss:.1f} MB, CPU {cpu:.2f} %, "
              f"engine container events {len(events)}, state db changed {db_changed}")
        return {"idle_apps": apps, "idle_converged_s": round(converged, 2),
                "idle_rss_mb": round(rss, 1), "idle_cpu_pct": round(cpu, 3),
                "idle_engine_events": len(events), "idle_db_changed": int(db_changed)}
    finally:
        w.stop()
        subprocess.run([sys.executable, "-m", "reconciler", "down", "-f",
                        str(root / "apps.star")], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--apps", type=int, default=100)
    ap.add_argument("--idle", type=float, default=30.0)
    quiet.add_arguments(ap)
    args = ap.parse_args()

    def measure() -> quiet.Figures:
        figures = bench_latency(args.repeat)
        if args.apps:
            figures.update(bench_idle(args.apps, args.idle))
        return figures

    cli, env = _builder()
    baseline = (f"{quiet.docker_cli_version(cli)} ({cli}, BuildKit "
                f"{'on' if env['DOCKER_BUILDKIT'] == '1' else 'off'})")
    quiet.report("bench_watch", args, measure, baseline)


if __name__ == "__main__":
    main()
