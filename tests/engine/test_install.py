"""ace installed outside a clone: a wheel built from the checkout, installed into a clean venv,
runs `ace --version`, reconciles a copy of examples/ and removes it with `ace down` (what
docs/install.md describes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PIP_TIMEOUT = 900.0


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300.0
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.engine
def test_wheel_installs_and_reconciles(tmp_path: Path, busybox: str) -> None:
    """The wheel carries the package data, installs `ace`, and reconciles then downs examples/."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ACE_FILE", "ACE_STATE_DIR", "VIRTUAL_ENV")}
    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ there
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("apps", "state", "reconciler"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), "."],
                 src, env, _PIP_TIMEOUT)
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("ace_reconciler-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("apps/specs/image/") for n in names), names
    assert any(n.startswith("reconciler/dashboard/static/") for n in names), names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py, ace = env_dir / "bin" / "python", env_dir / "bin" / "ace"
    installed = _run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path, env,
                     _PIP_TIMEOUT)
    assert installed.returncode == 0, installed.stderr

    version = _run([str(ace), "--version"], tmp_path, env)
    assert version.returncode == 0 and version.stdout.startswith("ace 0."), version

    project = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", project, ignore=shutil.ignore_patterns(".ace"))
    state = ["-f", str(project / "apps.star"), "--state-dir", str(tmp_path / "state")]
    try:
        up = _run([str(ace), "reconcile", *state], tmp_path, env)
        assert up.returncode == 0, up.stdout + up.stderr
        status = _run([str(ace), "status", "--json", *state], tmp_path, env)
        assert '"state": "running"' in status.stdout, status.stdout
    finally:
        down = _run([str(ace), "down", "--images", "--volumes", *state], tmp_path, env)
    assert down.returncode == 0, down.stdout + down.stderr
    after = _run([str(ace), "status", "--json", *state], tmp_path, env)
    assert '"state": "running"' not in after.stdout, after.stdout
