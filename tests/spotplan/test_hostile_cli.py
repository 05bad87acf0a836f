"""Hostile command lines: every bad input is one line on stderr and exit 2, before any work, never a traceback.

The cases cover every command's inputs: numbers that overflow, are NaN, infinite, negative or zero; counts and
durations that do not parse; files that are missing, directories, binary, 20,000 levels deep, of the wrong type or
schema version; output paths into missing directories, onto directories, under /proc or through a symlink; unknown
commands and options. They run in-process through ``spotplan.cli.main`` (what the console script calls), each under
a 60 s alarm, and a hypothesis property drives ``interval`` with arbitrary floats.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotplan.regress.suite import time_limit
from tests.support.runner import write_plan

CASE_TIMEOUT_S = 60
BAD_NUMBERS = ("nan", "inf", "-inf", "-1", "1e309", "abc", "")
MIN_CASES = 100


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hostile input files and output paths, in one folder."""
    d = tmp_path_factory.mktemp("hostile")
    deep = d / "deep.yaml"
    deep.write_text("[" * 20_000 + "]" * 20_000)
    deep_map = d / "deep-map.yaml"
    deep_map.write_text("".join(f"{' ' * i}k{i}:\n" for i in range(2_000)) + " " * 2_000 + "v: 1\n")
    (d / "binary.yaml").write_bytes(b"\x00\xff\xfe\x80 not text")
    (d / "list.yaml").write_text("[1, 2, 3]\n")
    (d / "scalar.yaml").write_text("42\n")
    (d / "empty.yaml").write_text("")
    (d / "future.yaml").write_text("schema_version: 99\n")
    (d / "unknown-field.yaml").write_text("schema_version: 1\nbogus: 1\n")
    (d / "a-dir").mkdir()
    (d / "a-file").write_text("x")
    (d / "link.jsonl").symlink_to(d / "a-file")
    write_plan(d / "plan.yaml")
    return {p.name: p for p in d.iterdir()} | {"missing-dir": d / "no" / "such" / "out.yaml",
                                              "missing": d / "missing.yaml", "proc": Path("/proc/spotplan/x")}


BAD_DOCS = ("deep.yaml", "deep-map.yaml", "binary.yaml", "list.yaml", "scalar.yaml", "empty.yaml", "future.yaml",
            "unknown-field.yaml", "a-dir", "missing")
BAD_OUTPUTS = ("missing-dir", "a-dir", "proc")


def _ref(name: str) -> str:
    """A placeholder for the path ``name`` of the ``files`` fixture."""
    return "{" + name + "}"


def _cases() -> list[tuple[str, ...]]:
    """Each case: argv with {name} placeholders for the ``files`` fixture."""
    rec = ("recommend", "--model-size", "7B")
    cases: list[tuple[str, ...]] = []
    cases += [(*rec, "--tokens", v) for v in ("1e40", "1e15", "0", "-5", "20X", *BAD_NUMBERS)]
    cases += [("recommend", "--model-size", v) for v in ("1e40", "0", "-7B", "nan", "inf", "7Q", "")]
    cases += [(*rec, flag, v) for flag in ("--deadline", "--p95-max") for v in ("0h", "-3d", "nanh", "infh", "soon")]
    cases += [(*rec, flag, v) for flag in ("--mfu", "--notice", "--interval") for v in ("nan", "inf", "-1", "abc")]
    cases += [(*rec, "--mfu", "0"), (*rec, "--mfu", "1.5"), (*rec, "--interval", "0")]
    cases += [(*rec, "--runs", v) for v in ("0", "3", "1000000000", "x")]
    cases += [(*rec, "--seed", v) for v in ("-1", "x")]
    cases += [(*rec, "--save-bandwidth", v) for v in ("abc", "-1GB/s", "0", "nanGB/s")]
    cases += [(*rec, "--mode", "qlora"), (*rec, "--bogus")]
    cases += [(*rec, "--nodes", v) for v in ("0", "-1", "129", "1e3", "x")]
    cases += [(*rec, "--max-nodes", v) for v in ("0", "200", "x")] + [(*rec, "--nodes", "8", "--max-nodes", "4")]
    cases += [(*rec, "--dp-efficiency", v) for v in ("0", "1.5", "nan", "inf", "-1", "x")]
    cases += [("recommend", "--model-size", "70B", "--nodes", "1"), ("recommend", "--model-size", "1.3B",
                                                                      "--nodes", "128")]
    cases += [(*rec, flag, _ref(o)) for flag in ("--out", "--skypilot") for o in BAD_OUTPUTS]
    cases += [(*rec, "--calibration", _ref(d)) for d in BAD_DOCS]
    cases += [(*rec, "--prices", _ref(d)) for d in ("deep.yaml", "binary.yaml", "a-dir", "missing", "list.yaml")]
    cases += [("simulate", _ref(d)) for d in BAD_DOCS]
    cases += [("simulate", "{plan.yaml}", "--runs", v) for v in ("0", "-1", "100000000000")]
    cases += [("simulate", "{plan.yaml}", "--workers", v) for v in ("-1", "1000000")]
    cases += [("simulate", "{plan.yaml}", "--timeline", _ref(o)) for o in BAD_OUTPUTS]
    for flag in ("--save-s", "--mtbf-h", "--work-h"):
        cases += [("interval", "--save-s", "60", "--mtbf-h", "3", flag, v) for v in BAD_NUMBERS]
    cases += [("interval", "--save-s", "1e308", "--mtbf-h", "1e-308"), ("interval", "--save-s", "60")]
    cases += [("interval", "--save-s", "60", "--mtbf-h", "3", "--restart-s", v) for v in ("-1", "nan", "inf")]
    run = ("run", "{plan.yaml}", "--model-size", "tiny", "--device", "cpu", "--no-imds")
    cases += [("run", _ref(d)) for d in BAD_DOCS]
    cases += [(*run, "--checkpoint-dir", _ref(o)) for o in ("a-file", "proc")]
    cases += [(*run, "--checkpoint-dir", "{a-dir}", flag, _ref(o)) for flag in ("--report", "--run-log")
              for o in ("missing-dir", "a-dir", "proc")]
    cases += [(*run, "--checkpoint-dir", "{a-dir}", "--run-log", "{link.jsonl}")]
    cases += [(*run, "--checkpoint-dir", "{a-dir}", opt, v) for opt, v in (
        ("--max-steps", "-1"), ("--seed", "-1"), ("--seed", str(2**40)), ("--interval-unit", "hours"),
        ("--model-size", "tinny"), ("--device", "tpu"))]
    cases += [("calibrate", "--out", _ref(o)) for o in BAD_OUTPUTS]
    cases += [("calibrate", "--checkpoint-dir", "{a-file}"), ("calibrate", "--repeats", "0")]
    cases += [("prices", "show", "--source", _ref(d)) for d in ("deep.yaml", "binary.yaml", "missing")]
    cases += [("regress", "--junit", "{missing-dir}"), ("regress", "--baselines", "{missing}"),
              ("regress", "--reason", "x")]
    cases += [("frobnicate",), ("recommend",), ("--bogus",)]
    return cases


CASES = _cases()


def _argv(case: tuple[str, ...], files: dict[str, Path]) -> list[str]:
    out = []
    for a in case:
        out.append(str(files[a[1:-1]]) if a.startswith("{") and a.endswith("}") else a)
    return out


def test_there_are_at_least_100_cases() -> None:
    assert len(CASES) >= MIN_CASES, len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c)[:80] for c in CASES])
def test_hostile_input_is_one_line_and_exit_2(case: tuple[str, ...], files: dict[str, Path], run_cli) -> None:
    """Exit 2, one line on stderr naming what was wrong, nothing on stdout, no traceback, within the alarm."""
    with time_limit(CASE_TIMEOUT_S):
        code, out, err = run_cli(*_argv(case, files))
    assert "Traceback" not in err + out, err
    assert code == 2, (code, err[-500:], out[-500:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spotplan: error: "), err
    assert not out.strip(), out[:300]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(save=st.floats(allow_nan=True, allow_infinity=True), mtbf=st.floats(allow_nan=True, allow_infinity=True),
       restart=st.floats(min_value=-1e6, max_value=1e6))
def test_interval_never_tracebacks_on_any_floats(save: float, mtbf: float, restart: float, run_cli) -> None:
    """``interval`` with arbitrary floats: finite figures and exit 0, or one line and exit 2."""
    with time_limit(CASE_TIMEOUT_S):
        code, out, err = run_cli("interval", "--save-s", repr(save), "--mtbf-h", repr(mtbf),
                                 "--restart-s", repr(restart))
    assert code in (0, 2) and "Traceback" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    else:
        assert "inf" not in out and "nan" not in out, out
