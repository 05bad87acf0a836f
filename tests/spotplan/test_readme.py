"""The README's quick start and CI stay in step (.ci/run runs the README's test command); its Python examples run."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from spotplan.paths import REPO_ROOT


def _quick_start_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.DOTALL)


def test_readme_has_exactly_two_quick_start_commands() -> None:
    """The quick start holds two commands: install+main job, install+tests; both use the torch constraints."""
    cmds = _quick_start_commands()
    assert len(cmds) == 2
    assert "spotplan" in cmds[0] and "constraints.txt" in cmds[0]
    assert cmds[1].strip() == "bash scripts/test.sh"
    assert "constraints.txt" in (REPO_ROOT / "scripts" / "test.sh").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run invokes exactly the README's test command."""
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _quick_start_commands()[1].strip() in ci


def _python_examples() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.+?)\n```", text, flags=re.DOTALL)


@pytest.mark.parametrize("index", range(len(_python_examples())))
def test_readme_python_examples_run(index: int, tmp_path) -> None:
    """Each ```python block of the README runs as written in a fresh interpreter, outside the checkout."""
    code = _python_examples()[index]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]


def test_readme_has_python_examples() -> None:
    """The README shows the Python entry point through the spotplan namespace."""
    examples = _python_examples()
    assert examples and all("from spotplan." in e for e in examples)
