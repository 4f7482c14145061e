"""Benchmark a cold start through ace's proxy: a request to an idle (stopped) busybox app until
its first byte, against `docker start` + polling until the first 200, by hand, of an equal
container. Runs alternate so both see the same machine; medians of --repeat runs.

Run: python tests/bench/bench_idle.py [--repeat 10] [--runs 3] [--json FILE]
Needs a Docker engine and a local busybox:latest. A run on a loaded machine is refused unless
--allow-load (tests/bench/README.md).

ace: `ace serve --idle-shutdown 1 --resync 0.25`; each round waits until the app sleeps (its
container stopped, the proxy told), then times one GET through the proxy from the request to
the first byte of the answer. By hand: `docker stop`, then `docker start` (the CLI) and GETs of
the published port every 5 ms until one answers 200.
"""

from __future__ import annotations

import argparse
import json
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

from state.db import derive_install_id  # noqa: E402
from tests.bench import quiet  # noqa: E402
from tests.engine.watchkit import WatchProc  # noqa: E402

SERVE = "mkdir -p /w && echo cold > /w/index.html && exec httpd -f -p 8080 -h /w"
APP_STAR = f"""load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Cold", routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config("image:busybox", port=8080, command=["sh", "-c", {SERVE!r}]),
    permissions=[ace.permission("proxy.in", "config", [container.URL])])
"""


class Serve(WatchProc):
    def __init__(self, apps_file: Path, *args: str) -> None:
        import threading

        cmd = [sys.executable, "-m", "reconciler", "serve", "-f", str(apps_file), "--log-json",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.events = []
        self.raw = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_byte(port: int, path: str, timeout: float = 30.0) -> tuple[float, bytes]:
    """Seconds from sending a GET to the first byte of the answer, and the answer's start."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        t0 = time.perf_counter()
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        got = s.recv(64)
        return time.perf_counter() - t0, got


def answers_200(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def asleep(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/_ace/status", timeout=5) as r:
        return any(a["path"] == "/cold" and a["state"] == "idle" for a in json.load(r)["apps"])


def ace_round(port: int, base: str) -> float:
    end = time.monotonic() + 30
    while not asleep(base):
        if time.monotonic() > end:
            raise TimeoutError("the app never went idle")
        time.sleep(0.05)
    time.sleep(0.3)  # a resync pass in between: the app stays asleep
    seconds, head = first_byte(port, "/cold/")
    assert head.startswith(b"HTTP/1.1 200"), head
    return seconds


def hand_round(name: str, port: int) -> float:
    subprocess.run(["docker", "stop", "-t", "1", name], check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(["docker", "start", name], check=True, capture_output=True)
    while not answers_200(port):
        time.sleep(0.005)
    return time.perf_counter() - t0


def measure(args: argparse.Namespace) -> quiet.Figures:
    root = Path(tempfile.mkdtemp(prefix="ace-bench-idle-"))
    (root / "cold").mkdir()
    (root / "cold/app.star").write_text(APP_STAR)
    (root / "apps.star").write_text('app("/cold", "./cold")\n')
    hand = f"ace-bench-idle-{root.name[-8:]}"
    hand_port = free_port()
    subprocess.run(["docker", "run", "-d", "--init", "--name", hand, "-p",
                    f"127.0.0.1:{hand_port}:8080", "busybox:latest", "sh", "-c", SERVE],
                   check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Serve(root / "apps.star", "--listen", f"127.0.0.1:{port}", "--idle-shutdown", "1",
                 "--resync", "0.25")
    ace_times: list[float] = []
    hand_times: list[float] = []
    try:
        proc.wait_for(lambda e: e.get("event") == "status", 120, "the first pass")
        for i in range(args.repeat):
            ace_times.append(ace_round(port, base))
            hand_times.append(hand_round(hand, hand_port))
            print(f"round {i + 1}: ace {ace_times[-1]:.3f} s, by hand {hand_times[-1]:.3f} s",
                  flush=True)
    finally:
        proc.stop()
        subprocess.run(["docker", "rm", "-f", hand], capture_output=True)
        install = derive_install_id(root / ".ace")
        subprocess.run(["sh", "-c", f"docker rm -f $(docker ps -aq --filter "
                        f"label=dev.ace.install={install}) 2>/dev/null; "
                        f"docker network rm ace-{install} 2>/dev/null"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    a, h = statistics.median(ace_times), statistics.median(hand_times)
    print(f"\ncold start, request to first byte, median of {args.repeat}:")
    print(f"  ace (through the proxy, idle app woken): {a:.3f} s")
    print(f"  by hand (docker start + first 200):      {h:.3f} s")
    print(f"  ace's overhead: {a - h:+.3f} s (goal: < 0.2 s)")
    return {"ace_s": round(a, 4), "by_hand_s": round(h, 4), "overhead_s": round(a - h, 4),
            "ace_rounds_s": ace_times, "by_hand_rounds_s": hand_times}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    quiet.add_arguments(ap)
    args = ap.parse_args()
    quiet.report("bench_idle", args, lambda: measure(args), quiet.docker_cli_version())


if __name__ == "__main__":
    main()
