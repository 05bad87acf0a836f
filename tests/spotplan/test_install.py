"""A regular (non-editable) install puts exactly one import package, ``spotplan``, into site-packages, and works.

The wheel is built from a copy of the tracked files without network (no build isolation: setuptools comes from
the test venv) and installed without dependencies into a new venv; the test venv's site-packages supplies numpy and the
rest through PYTHONPATH, which holds no ``spotplan`` folder of its own (the editable install is a finder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from spotplan.paths import REPO_ROOT

PIP_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding a regular install of this checkout; returns its python."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to copy the tracked tree")
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    # a copy of the tracked files only: the build never sees .venv, build/ or egg-info of the checkout
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True,
                           timeout=60).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (REPO_ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, src / rel)
    wheels = root / "wheels"
    _pip(["wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(src)], root)
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    _pip(["--python", str(py), "install", "-q", "--no-deps", "--no-index", *map(str, wheels.glob("*.whl"))], root)
    return py


def _pip(args: list[str], cwd: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", *args], check=False, capture_output=True, text=True,
                         timeout=PIP_TIMEOUT_S, cwd=cwd)
    assert out.returncode == 0, f"pip {' '.join(args[:2])}: {out.stderr[-3000:]}"


def _site_packages(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True, timeout=60)
    return Path(out.stdout.strip())


def _env(py: Path) -> dict[str, str]:
    deps = sysconfig.get_paths()["purelib"]  # the test venv's numpy, simpy, torch, ...
    return {**os.environ, "PYTHONPATH": deps, "SPOTPLAN_DATA_DIR": "", "PYTHONNOUSERSITE": "1"}


def test_regular_install_has_one_top_level_package(installed: Path) -> None:
    """site-packages gains ``spotplan`` and its dist-info, nothing else (no simulator/advisor/runner/...)."""
    site = _site_packages(installed)
    new = sorted(p.name for p in site.iterdir() if p.name not in ("__pycache__",) and not p.name.startswith("_"))
    assert [n for n in new if not n.endswith(".dist-info")] == ["spotplan"], new
    top = (site / next(n for n in new if n.endswith(".dist-info")) / "top_level.txt")
    if top.is_file():
        assert top.read_text().split() == ["spotplan"]
    for part in ("simulator", "simulator/market", "advisor", "regress", "runner", "dashboard", "dashboard/app_pages"):
        assert (site / "spotplan" / part / "__init__.py").is_file(), part
    assert (site / "spotplan" / "dashboard" / "app.py").is_file()


def test_regular_install_runs_from_anywhere(installed: Path, tmp_path: Path) -> None:
    """Outside the checkout, the installed copy imports every part and plans on its installed data."""
    code = ("import spotplan, spotplan.simulator.market.prices, spotplan.simulator.montecarlo, spotplan.advisor.api, "
            "spotplan.regress.suite, spotplan.runner.checkpoint, spotplan.dashboard.quickplan, spotplan.paths as p\n"
            "print(spotplan.__file__); print(p.data_dir())")
    out = subprocess.run([str(installed), "-c", code], check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env=_env(installed))
    assert out.returncode == 0, out.stderr
    where, data = out.stdout.split()
    site = _site_packages(installed)
    assert Path(where).is_relative_to(site) and Path(data).is_relative_to(installed.parent.parent), out.stdout
    rec = subprocess.run([str(installed), "-m", "spotplan.cli", "recommend", "--model-size", "125M", "--tokens", "2e9",
                          "--runs", "8", "--json"], check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env=_env(installed))
    assert rec.returncode == 0, rec.stderr[-2000:]
    assert '"plan"' in rec.stdout
