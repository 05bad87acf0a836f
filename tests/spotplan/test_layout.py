"""The layout shows the architecture: one import package, folders mapped into it, and imports that point one way.

Layers, lowest first (README, "How the pieces fit"): core (schemas, errors, paths, stats) <- market data
(``spotplan.simulator.market``) <- model (``spotplan.simulator``) <- advisor <- regress, dashboard, commands;
runner <- core. A module may import its own layer and the layers below it, never one above or beside it, and
some layers must stay free of heavy third-party packages (the model of torch and streamlit, the runner of simpy).
The check reads every import statement, including those inside functions, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from spotplan.paths import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PACKAGE_DIR: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
PACKAGES: list[str] = PYPROJECT["tool"]["setuptools"]["packages"]
SOURCE_FOLDERS = ("spotplan", "simulator", "advisor", "regress", "runner", "dashboard")

# layer -> the spotplan layers it may import (itself included) and the third-party packages it must not import
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "market": {"core", "market"},
    "model": {"core", "market", "model"},
    "advisor": {"core", "market", "model", "advisor"},
    "regress": {"core", "market", "model", "advisor", "regress"},
    "dashboard": {"core", "market", "model", "advisor", "dashboard"},
    "runner": {"core", "runner"},
    "front": {"core", "market", "model", "advisor", "regress", "dashboard", "runner", "front"},
}
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "core": {"simpy", "torch", "streamlit", "plotly", "boto3"},
    "market": {"simpy", "torch", "streamlit", "plotly"},
    "model": {"torch", "streamlit", "plotly", "boto3"},
    "advisor": {"torch", "streamlit", "plotly", "boto3"},
    "regress": {"torch", "streamlit", "plotly"},
    "dashboard": {"torch"},
    "runner": {"simpy", "streamlit", "plotly"},
    "front": set(),
}
OLD_TOP_LEVEL = ("simulator", "advisor", "regress", "runner", "dashboard", "market")


def layer_of(module: str) -> str:
    """The layer of a ``spotplan.*`` module name."""
    parts = module.split(".")
    second = parts[1] if len(parts) > 1 else ""
    if second == "simulator":
        return "market" if len(parts) > 2 and parts[2] == "market" else "model"
    if second in ("advisor", "regress", "dashboard", "runner"):
        return second
    if second in ("cli", "commands"):
        return "front"
    return "core"  # spotplan, spotplan.schemas.*, errors, paths, stats


def source_modules() -> dict[str, Path]:
    """{module name: file} for every source file, through pyproject's package-dir mapping."""
    out: dict[str, Path] = {}
    for pkg, folder in PACKAGE_DIR.items():
        root = REPO_ROOT / folder
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("").parts
            if "__pycache__" in rel:
                continue
            # a folder mapped by its own entry (e.g. spotplan.simulator) is not walked again from its parent
            name = ".".join((pkg, *rel)).removesuffix(".__init__")
            if any(other != pkg and other.startswith(pkg + ".") and (name + ".").startswith(other + ".")
                   for other in PACKAGE_DIR):
                continue
            out[name] = path
    return out


def imports_of(path: Path, module: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against ``module``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{a.name}" for a in node.names)  # `from pkg import module`
    return names


def test_every_package_folder_is_in_the_namespace() -> None:
    """pyproject lists exactly the package folders, each mapped under ``spotplan``; the folders are where a
    reader expects them."""
    for folder in (*SOURCE_FOLDERS, "data", "tests"):
        assert (REPO_ROOT / folder).is_dir(), folder
    assert all(p == "spotplan" or p.startswith("spotplan.") for p in PACKAGE_DIR), PACKAGE_DIR
    assert set(PACKAGE_DIR.values()) == set(SOURCE_FOLDERS)
    found = {name for name, path in source_modules().items() if path.name == "__init__.py"}
    assert found == set(PACKAGES), f"package folders {sorted(found ^ set(PACKAGES))} missing from pyproject or disk"


def test_nothing_imports_the_old_top_level_names() -> None:
    """Every import is ``spotplan.<part>``: source, tests, benchmarks and scripts alike."""
    files = [*source_modules().values(), *(REPO_ROOT / "tests").rglob("*.py"), *(REPO_ROOT / "benchmarks").rglob("*.py")]
    bad = []
    for path in files:
        for name in imports_of(path, "tests.x"):
            if name.split(".")[0] in OLD_TOP_LEVEL:
                bad.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert not bad, bad


def test_imports_point_down_the_layers() -> None:
    """No module imports a layer above or beside its own, nor a heavy package its layer must not need."""
    bad = []
    modules = source_modules()
    for module, path in sorted(modules.items()):
        layer = layer_of(module)
        for name in sorted(imports_of(path, module)):
            top = name.split(".")[0]
            if name in modules:  # a spotplan module (a `from m import Name` also yields m.Name: not a module)
                if layer_of(name) not in ALLOWED[layer]:
                    bad.append(f"{module} ({layer}) imports {name} ({layer_of(name)})")
            elif top in FORBIDDEN_THIRD_PARTY[layer]:
                bad.append(f"{module} ({layer}) imports {top}")
    assert not bad, "\n".join(bad)


def test_layer_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself: a model module importing the advisor and torch is reported."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import torch\n    from spotplan.advisor import api\n    from . import compile\n")
    names = imports_of(f, "spotplan.simulator.m")
    assert {"torch", "spotplan.advisor.api", "spotplan.simulator.compile"} <= names
    assert layer_of("spotplan.advisor.api") not in ALLOWED["model"]
    assert "torch" in FORBIDDEN_THIRD_PARTY["model"]


@pytest.mark.parametrize(("entry", "absent"), [
    ("spotplan.simulator.montecarlo", ("torch", "streamlit", "spotplan.advisor", "spotplan.runner")),
    ("spotplan.simulator.market.fit", ("simpy", "spotplan.simulator.model", "spotplan.advisor")),
    ("spotplan.runner.loop", ("simpy", "streamlit", "spotplan.advisor", "spotplan.simulator")),
    ("spotplan.advisor.api", ("torch", "streamlit", "spotplan.regress", "spotplan.dashboard")),
])
def test_importing_a_layer_loads_nothing_above_it(entry: str, absent: tuple[str, ...]) -> None:
    """At run time too: a fresh interpreter that imports one layer has loaded none of the forbidden modules."""
    code = (f"import sys, {entry}\n"
            f"bad = [m for m in {absent!r} if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "", f"importing {entry} loaded {out.stdout.strip()}"
