"""ace installed outside a clone, as docs/install.md describes: a wheel built from the checkout,
installed into a clean venv, and with pipx into its own PIPX_HOME (then upgraded and
uninstalled); each install runs `ace --version`, reconciles a copy of examples/ and removes it
with `ace down`."""

from __future__ import annotations

import json
import os
import re
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


def _clean_env() -> dict[str, str]:
    """The environment without the checkout on the path (the installed ace must answer)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "ACE_FILE", "ACE_STATE_DIR", "VIRTUAL_ENV")}


def _build_wheel(tmp: Path, version: str | None = None) -> Path:
    """A wheel of the checkout, built from a copy (building in the checkout would leave build/
    there); `version` replaces the project's version."""
    src = tmp / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    if version is not None:
        toml = src / "pyproject.toml"
        text, n = re.subn(r'^version = "[^"]+"', f'version = "{version}"', toml.read_text(),
                          count=1, flags=re.M)
        assert n == 1, "pyproject.toml has no version line"
        toml.write_text(text)
    for package in ("apps", "state", "reconciler"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), "."],
                 src, _clean_env(), _PIP_TIMEOUT)
    assert built.returncode == 0, built.stderr
    return next(dist.glob("ace_reconciler-*.whl"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's wheel, built once for this module."""
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def _examples(tmp: Path) -> list[str]:
    """A copy of examples/ in `tmp`; the options that name its apps file and a state dir."""
    project = tmp / "examples"
    shutil.copytree(ROOT / "examples", project, ignore=shutil.ignore_patterns(".ace"))
    return ["-f", str(project / "apps.star"), "--state-dir", str(tmp / "state")]


def _up(ace: Path, state: list[str], tmp: Path, env: dict[str, str]) -> None:
    """`ace reconcile` brings the examples up (status shows them running)."""
    up = _run([str(ace), "reconcile", *state], tmp, env)
    assert up.returncode == 0, up.stdout + up.stderr
    status = _run([str(ace), "status", "--json", *state], tmp, env)
    assert '"state": "running"' in status.stdout, status.stdout


def _down(ace: Path, state: list[str], tmp: Path, env: dict[str, str]) -> None:
    """`ace down --images --volumes` removes them (status shows nothing running)."""
    down = _run([str(ace), "down", "--images", "--volumes", *state], tmp, env)
    assert down.returncode == 0, down.stdout + down.stderr
    after = _run([str(ace), "status", "--json", *state], tmp, env)
    assert '"state": "running"' not in after.stdout, after.stdout


@pytest.mark.engine
def test_wheel_installs_and_reconciles(wheel: Path, tmp_path: Path, busybox: str) -> None:
    """The wheel carries the package data, installs `ace`, and reconciles then downs examples/."""
    env = _clean_env()
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

    state = _examples(tmp_path)
    try:
        _up(ace, state, tmp_path, env)
    finally:
        _down(ace, state, tmp_path, env)


def _pipx(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    res = _run([sys.executable, "-m", "pipx", *args], cwd, env, _PIP_TIMEOUT)
    assert res.returncode == 0, f"pipx {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.mark.engine
def test_pipx_installs_upgrades_and_uninstalls(wheel: Path, tmp_path: Path, busybox: str
                                               ) -> None:
    """`pipx install` of the wheel gives a working `ace`; `pipx install --force` of a newer one
    upgrades it without recreating what runs; `pipx uninstall ace-reconciler` removes it."""
    probe = _run([sys.executable, "-m", "pipx", "--version"], tmp_path, _clean_env())
    assert probe.returncode == 0, ("pipx is missing from the test environment: it is in the "
                                   "dev extra (bash scripts/setup.sh installs it)\n"
                                   + probe.stderr)
    home, bin_dir = tmp_path / "pipx-home", tmp_path / "pipx-bin"
    env = {**_clean_env(), "PIPX_HOME": str(home), "PIPX_BIN_DIR": str(bin_dir),
           "PIPX_MAN_DIR": str(tmp_path / "pipx-man")}
    ace = bin_dir / "ace"

    _pipx("install", str(wheel), cwd=tmp_path, env=env)
    version = _run([str(ace), "--version"], tmp_path, env)
    assert version.returncode == 0 and version.stdout.startswith("ace 0."), version
    old = version.stdout.split()[1]

    state = _examples(tmp_path)
    try:
        _up(ace, state, tmp_path, env)
        newer = _build_wheel(tmp_path / "newer", version=f"{old}.post1")
        _pipx("install", "--force", str(newer), cwd=tmp_path, env=env)
        upgraded = _run([str(ace), "--version"], tmp_path, env)
        assert upgraded.stdout.strip() == f"ace {old}.post1", upgraded
        again = _run([str(ace), "reconcile", "--json", *state], tmp_path, env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads(again.stdout)["steps"] == [], again.stdout  # nothing recreated
    finally:
        _down(ace, state, tmp_path, env)

    _pipx("uninstall", "ace-reconciler", cwd=tmp_path, env=env)
    assert not ace.exists() and not ace.is_symlink()
    assert not (home / "venvs" / "ace-reconciler").exists()
    listed = _pipx("list", "--short", cwd=tmp_path, env=env)
    assert "ace-reconciler" not in listed.stdout
