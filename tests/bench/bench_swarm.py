"""Benchmark: ace on a 3-node Swarm vs `docker stack deploy` of an equivalent compose file.

Run: python tests/bench/bench_swarm.py [--apps 20] [--repeat 5] [--runs 3] [--json FILE]
As root: it starts the lab cluster itself (scripts/swarm/cluster-up.sh 3: three dockerds in
network namespaces and a local registry) and removes it at the end. Both tools deploy the same
busybox httpd services: app 0 with 3 replicas, the others with 1. Phases, each timed as whole
processes: cold deploy (until every task runs; ace also waits for every health check), no-op
(median of --repeat runs), and one app changed (an env value of app 0) while requests go to its
public address — ace's proxy (`ace watch --backend swarm`) for ace; for the stack, the app's
host-mode published port on the three node addresses in turn (no routing mesh without IPVS).
A run on a loaded machine is refused unless --allow-load (tests/bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench import quiet  # noqa: E402
from tests.engine.watchkit import WatchProc  # noqa: E402
from tests.swarm.cluster import Cluster, cluster_up  # noqa: E402

SERVE = "mkdir -p /w && echo $N > /w/index.html && exec httpd -f -p 8080 -h /w"
APP_STAR = (
    'load("container.in", "container")\nload("proxy.in", "proxy")\n'
    'app = ace.app("svc " + param.N, routes=[ace.proxy("/", proxy.config(container.URL))],\n'
    '    container=container.config("image:busybox", port=8080,\n'
    f'                               command=["sh", "-c", {SERVE!r}]),\n'
    '    permissions=[ace.permission("proxy.in", "config", [container.URL])])\n'
)
PUBLIC_PORT = 18080


def apps_star(n: int, value0: str) -> str:
    rows = [f'app("/s0", "./svc", params={{"N": "{value0}"}}, '
            'container_opts={"min_replicas": 3})']
    rows += [f'app("/s{i}", "./svc", params={{"N": "v{i}"}})' for i in range(1, n)]
    return "\n".join(rows) + "\n"


def compose(n: int, value0: str) -> str:
    lines = ["version: \"3.8\"", "services:"]
    for i in range(n):
        port = (f"[{{target: 8080, published: {PUBLIC_PORT}, mode: host}}]" if i == 0
                else "[{target: 8080, mode: host}]")
        lines += [f"  s{i}:", "    image: busybox:latest", "    init: true",
                  "    stop_grace_period: 2s",
                  f"    command: [\"sh\", \"-c\", {json.dumps(SERVE)}]",
                  f"    environment: {{N: \"{value0 if i == 0 else f'v{i}'}\"}}",
                  f"    ports: {port}",
                  f"    deploy: {{replicas: {3 if i == 0 else 1}}}"]
    return "\n".join(lines) + "\n"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


class Prober:
    """Requests to `urls` in turn, one every 10 ms, until stopped (at most 120 s)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls, self.results = urls, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        end, i = time.monotonic() + 120, 0
        while not self._stop.is_set() and time.monotonic() < end:
            self.results.append(get(self.urls[i % len(self.urls)]))
            i += 1
            time.sleep(0.01)

    def stop(self) -> tuple[int, int]:
        self._stop.set()
        self._t.join()
        return len(self.results), sum(1 for s, _ in self.results if s != 200)


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return took


def tasks_running(cluster: Cluster, want: int, label: str) -> int:
    with cluster.client() as c:
        ids = [s["ID"] for s in c.api.services(filters={"label": label})]
        if not ids:
            return 0
        return sum(1 for t in c.api.tasks(filters={"service": ids, "desired-state": "running"})
                   if t["Status"]["State"] == "running")


def wait_running(cluster: Cluster, want: int, label: str, t0: float) -> float:
    while tasks_running(cluster, want, label) < want:
        if time.perf_counter() - t0 > 300:
            raise SystemExit(f"not all {want} tasks ran within 300 s")
        time.sleep(0.1)
    return time.perf_counter() - t0


def bench_stack(cluster: Cluster, work: Path, n: int, repeat: int) -> dict[str, object]:
    env = {**os.environ, "DOCKER_HOST": cluster.manager}
    f = work / "stack.yml"
    f.write_text(compose(n, "v0"))
    deploy = ["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(f), "bench"]
    want = n + 2
    label = "com.docker.stack.namespace=bench"
    t0 = time.perf_counter()
    run(deploy, env, work)
    cold = wait_running(cluster, want, label, t0)
    noop = statistics.median(run(deploy, env, work) for _ in range(repeat))
    urls = [f"http://{cluster.net}.{10 + k}:{PUBLIC_PORT}/" for k in (1, 2, 3)]
    while not all(get(u)[0] == 200 for u in urls):
        time.sleep(0.1)
    probe = Prober(urls)
    time.sleep(0.5)
    f.write_text(compose(n, "v0-changed"))
    t0 = time.perf_counter()
    run(deploy, env, work)
    with cluster.client() as c:
        while True:  # the rolling update of s0 (parallelism 1, stop-first: compose defaults)
            svc = c.api.inspect_service("bench_s0")
            if (svc.get("UpdateStatus") or {}).get("State") == "completed":
                break
            time.sleep(0.05)
    change = time.perf_counter() - t0
    time.sleep(0.5)
    sent, failed = probe.stop()
    subprocess.run(["docker", "stack", "rm", "bench"], env=env, capture_output=True)
    while tasks_running(cluster, 0, label) or _services(cluster, label):
        time.sleep(0.2)
    return {"cold": cold, "noop": noop, "change": change, "sent": sent, "failed": failed}


def _services(cluster: Cluster, label: str) -> int:
    with cluster.client() as c:
        return len(c.api.services(filters={"label": label}))


def bench_ace(cluster: Cluster, work: Path, n: int, repeat: int) -> dict[str, object]:
    proj = work / "ace"
    (proj / "svc").mkdir(parents=True)
    (proj / "svc" / "app.star").write_text(APP_STAR)
    (proj / "svc" / "params.star").write_text('param("N", default="0")\n')
    apps = proj / "apps.star"
    apps.write_text(apps_star(n, "v0"))
    env = {**os.environ, "DOCKER_HOST": cluster.manager, "ACE_BACKEND": "swarm",
           "ACE_REGISTRY": cluster.registry, "PYTHONPATH": str(ROOT)}
    ace = [sys.executable, "-m", "reconciler"]
    cold = run([*ace, "reconcile", "-f", str(apps), "--parallel", "8"], env, proj)
    noop = statistics.median(run([*ace, "reconcile", "-f", str(apps)], env, proj)
                             for _ in range(repeat))
    port = 18999
    w = WatchProc(apps, "--listen", f"127.0.0.1:{port}", "--resync", "5", env=env)
    url = f"http://127.0.0.1:{port}/s0/"
    try:
        end = time.monotonic() + 60
        while get(url) != (200, "v0") and time.monotonic() < end:
            time.sleep(0.1)
        probe = Prober([url])
        time.sleep(0.5)
        t0 = time.perf_counter()
        apps.write_text(apps_star(n, "v0-changed"))
        w.wait_for(lambda e: e.get("event") == "step_done" and e.get("action") == "replace",
                   120, "the replace of /s0")
        change = time.perf_counter() - t0
        time.sleep(0.5)
        sent, failed = probe.stop()
        served = get(url)
    finally:
        w.stop()
    run([*ace, "down", "-f", str(apps)], env, proj)
    return {"cold": cold, "noop": noop, "change": change, "sent": sent, "failed": failed,
            "served_after": served[1]}


def measure(args: argparse.Namespace) -> quiet.Figures:
    with tempfile.TemporaryDirectory() as tmp, cluster_up(3, Path(tmp)) as cluster:
        work = Path(tmp)
        nodes = quiet.engine_version({**os.environ, "DOCKER_HOST": cluster.manager})
        a = bench_ace(cluster, work, args.apps, args.repeat)
        s = bench_stack(cluster, work, args.apps, args.repeat)
    print(f"cluster nodes: Docker engine {nodes}")
    print(f"{args.apps} apps on a 3-node swarm (app 0: 3 replicas)")
    print(f"{'':28} {'ace':>10} {'stack deploy':>14} {'ratio':>7}")
    for key, what in (("cold", "cold deploy (s)"), ("noop", "no-op (s, median)"),
                      ("change", "one app changed (s)")):
        ratio = float(a[key]) / float(s[key])  # type: ignore[arg-type]
        print(f"{what:28} {a[key]:>10.2f} {s[key]:>14.2f} {ratio:>6.2f}x")
    print(f"{'failed requests in change':28} {a['failed']:>5}/{a['sent']:<4} "
          f"{s['failed']:>9}/{s['sent']:<4}")
    figures: quiet.Figures = {"cluster_engine": nodes}
    for key in ("cold", "noop", "change", "sent", "failed"):
        figures.update({f"ace_{key}": a[key], f"stack_{key}": s[key]})  # type: ignore[dict-item]
    for key in ("cold", "noop", "change"):
        figures[f"ratio_{key}"] = round(float(a[key]) / float(s[key]), 4)  # type: ignore[arg-type]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    quiet.add_arguments(ap)
    args = ap.parse_args()
    quiet.report("bench_swarm", args, lambda: measure(args),
                 quiet.docker_cli_version() + " (docker stack deploy)")


if __name__ == "__main__":
    main()
