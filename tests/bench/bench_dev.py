"""Benchmark dev mode: save-to-serving through a stable address, for one busybox app.

Run: python tests/bench/bench_dev.py [--repeat 7] [--runs 3] [--json FILE]
Needs a Docker engine, a local busybox:latest and `docker-compose` v2 (the `bench` extra).

Cases, in one run, each timed from writing the page until the new content is served:
- ace dev, reload=none: `ace watch` serving the mounted source (no engine event at all);
- ace dev, reload=restart: the same container restarted, requests held at ace's proxy;
- ace normal mode: the image rebuilt and the container replaced (zero-downtime);
- compose: `docker compose watch` with `develop.watch` `action: sync+restart` on the same app,
  at its published port.
During every case a request loop runs against the address; failed requests are counted. A run
on a loaded machine is refused unless --allow-load (tests/bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import quiet  # noqa: E402
from tests.engine.watchkit import WatchProc  # noqa: E402

# SERVE_LIVE serves the files as they are on disk (a framework with its own reloader);
# SERVE_AT_START copies them when the container starts (an app that loads its code once), so a
# change is served only once the container restarted: what `restart` and compose's
# `sync+restart` are for.
SERVE_LIVE = '["httpd", "-f", "-p", "8080", "-h", "/site"]'
SERVE_AT_START = '["sh", "-c", "rm -rf /www && cp -r /site /www && exec httpd -f -p 8080 -h /www"]'
CONTAINERFILE = """FROM busybox AS dev
WORKDIR /site
EXPOSE 8080
CMD {cmd}

FROM dev
COPY index.html /site/
"""
APP_STAR = """load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Site", routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config(container.AUTO, dev_settings={{"reload": "{reload}"}}),
    permissions=[ace.permission("proxy.in", "config", [container.URL]),
                 ace.permission("container.in", "config", [container.AUTO])])
"""
COMPOSE = """services:
  site:
    build: {{context: ./site, dockerfile: Containerfile, target: dev}}
    init: true
    ports: ["127.0.0.1:{port}:8080"]
    develop:
      watch:
        - action: sync+restart
          path: ./site
          target: /site
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode() if r.status == 200 else None
    except OSError:
        return None


def _until(pred: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.005)
    raise TimeoutError("condition not met")


class Loop:
    """Requests back to back against `url` in a thread; counts the failed ones."""

    def __init__(self, url: str) -> None:
        self.url, self.failed, self.total = url, 0, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.total += 1
            if _get(self.url, timeout=15.0) is None:  # a held request is slow, not failed
                self.failed += 1
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=10)


def _saves(site: Path, url: str, repeat: int) -> tuple[list[float], int, int]:
    """Latencies of `repeat` saves, and (failed, total) requests of a loop running meanwhile."""
    loop = Loop(url)
    out = []
    try:
        for i in range(repeat):
            token = f"save {i} {time.time_ns()}\n"
            t0 = time.perf_counter()
            (site / "index.html").write_text(token)
            _until(lambda t=token: _get(url) == t, 120)  # type: ignore[misc]
            out.append(time.perf_counter() - t0)
            time.sleep(1.0)  # a quiet second between saves (watchers debounce bursts)
    finally:
        loop.stop()
    return out, loop.failed, loop.total


def _project(root: Path, reload: str, dev: bool) -> Path:
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    live = reload == "none" and dev
    (site / "Containerfile").write_text(
        CONTAINERFILE.format(cmd=SERVE_LIVE if live else SERVE_AT_START))
    (site / "index.html").write_text("start\n")
    (site / "app.star").write_text(APP_STAR.format(reload=reload))
    (root / "apps.star").write_text(f'app("/site", "./site", dev={dev})\n')
    return site


def bench_ace(root: Path, reload: str, dev: bool, repeat: int) -> tuple[list[float], int, int]:
    site = _project(root, reload, dev)
    port = _port()
    w = WatchProc(root / "apps.star", "--resync", "2", "--listen", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/site/"
    try:
        _until(lambda: _get(url) == "start\n", 120)
        time.sleep(1.0)
        return _saves(site, url, repeat)
    except TimeoutError:
        Path("/tmp/bench_dev_fail.log").write_text("".join(w.raw))
        raise
    finally:
        w.stop()
        subprocess.run([sys.executable, "-m", "reconciler", "down", "--images", "-f",
                        str(root / "apps.star")], capture_output=True, timeout=120)


def _compose() -> str:
    return shutil.which("docker-compose", path=os.path.dirname(sys.executable)) or \
        "docker-compose"


def bench_compose(root: Path, repeat: int) -> tuple[list[float], int, int]:
    site = _project(root, "restart", True)
    port = _port()
    (root / "compose.yaml").write_text(COMPOSE.format(port=port))
    base = [_compose(), "-p", f"acebench{os.getpid()}", "-f", str(root / "compose.yaml")]
    subprocess.run([*base, "up", "-d", "--build"], check=True, capture_output=True, timeout=300)
    watch = subprocess.Popen([*base, "watch", "--no-up"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        time.sleep(3.0)  # compose watch arms its watcher; the dev stage has no page until a sync
        (site / "index.html").write_text("synced\n")
        _until(lambda: _get(url) == "synced\n", 120)
        time.sleep(1.0)
        return _saves(site, url, repeat)
    finally:
        watch.terminate()
        watch.wait(timeout=20)
        subprocess.run([*base, "down", "--rmi", "local"], capture_output=True, timeout=120)


def measure(repeat: int) -> quiet.Figures:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Callable[[Path], tuple[list[float], int, int]]]] = [
            ("ace dev, reload=none", lambda r: bench_ace(r, "none", True, repeat)),
            ("ace dev, reload=restart", lambda r: bench_ace(r, "restart", True, repeat)),
            ("ace normal mode (rebuild)", lambda r: bench_ace(r, "none", False, repeat)),
            ("compose watch sync+restart", lambda r: bench_compose(r, repeat)),
        ]
        for i, (name, run) in enumerate(cases):
            print(f"  {name} ...", file=sys.stderr, flush=True)
            lat, failed, total = run(Path(tmp) / f"case{i}")
            rows.append((name, statistics.median(lat), failed, total))
    compose = rows[-1][1]
    print(f"{'case':30} {'median s':>9} {'vs compose':>10} {'failed/requests':>16}")
    figures: quiet.Figures = {}
    for name, med, failed, total in rows:
        print(f"{name:30} {med:9.3f} {med / compose:9.2f}x {failed:>7}/{total}")
        key = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
        figures.update({f"{key}_s": round(med, 4), f"{key}_vs_compose": round(med / compose, 4),
                        f"{key}_failed": failed, f"{key}_requests": total})
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    quiet.add_arguments(ap)
    args = ap.parse_args()
    quiet.report("bench_dev", args, lambda: measure(args.repeat),
                 quiet.compose_version(_compose()))


if __name__ == "__main__":
    main()
