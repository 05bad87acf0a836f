"""Hostile checkpoints: generated mutations of a real checkpoint directory never crash, hang, escape or run code.

Two steps of a real tiny training run (10 and 20) are written once; every case copies them, attacks step 20 (bit
flips, truncation, oversized and sparse files, nested JSON, FIFOs, devices, symlinks into a directory outside,
forged but resealed manifests, out-of-range state fields, NaN weights, wrong shapes, pickles) and resumes through
the production path (``remove_uncommitted`` then ``runner.resume.resume``), then prunes and saves again as the
loop would. Every case must either fall back to step 10 (bit-exact weights, with a warning) or stop with one
``CheckpointError`` line; nothing outside the checkpoint directory may be opened, changed or deleted, and the
pickle payloads planted in some cases must never run. Each case runs under a 20 s alarm.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spotplan.errors import CheckpointError
from spotplan.regress.suite import time_limit
from spotplan.runner import checkpoint as ck
from spotplan.runner.checkpoint import ForeignCheckpointError
from spotplan.runner.corpus import DataPosition
from spotplan.runner.fsio import HASH_NAME, digest_of
from spotplan.runner.job import Job, build_job
from spotplan.runner.loop import _train_step, seed_everything
from spotplan.runner.resume import resume
from spotplan.runner.snapshot import Saver
from spotplan.runner.state import capture
from spotplan.runner.tensorfile import encode
from tests.support.runner import make_plan

CASE_TIMEOUT_S = 20
GOOD, NEWEST = 10, 20
EXAMPLES_PER_ATTACK = 40  # attacks that draw nothing run once; the others vary what they flip, cut or write
MIN_GENERATED = 200
GENERATED: list[str] = []  # every case run in this session (checked by the last test of this file)


def _job() -> Job:
    return build_job(make_plan(), model_size="tiny", device=torch.device("cpu"), seed=0, corpus_bytes=1 << 20)


class Pristine:
    """The two clean steps, step 10's weights, and the job every case restores into (as a resuming run would)."""

    def __init__(self, root: Path, weights_at_good: dict[str, torch.Tensor], job: Job) -> None:
        self.root, self.weights_at_good, self.job = root, weights_at_good, job

    def __repr__(self) -> str:
        return f"Pristine({self.root})"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    """Steps 10 and 20 of a real run (model, AdamW, scheduler, RNGs, data position), written by the Saver."""
    root = tmp_path_factory.mktemp("pristine") / "ck"
    seed_everything(0)
    job = _job()
    saver = Saver(root, keep_last_k=5, async_save=False)
    pos, weights = DataPosition(), {}
    for step in range(1, NEWEST + 1):
        _, pos = _train_step(job, pos, saver)
        if step in (GOOD, NEWEST):
            tensors, state = capture(job.train, position=pos)
            saver.save(step=step, kind="periodic", tensors=tensors, state=state, config_hash=job.config_hash,
                       plan_id="p", config=job.config)
            if step == GOOD:
                weights = {k: v.clone() for k, v in job.train.model.state_dict().items()}
    saver.close()
    return Pristine(root=root, weights_at_good=weights, job=_job())


# --- what an attack may touch, and how we check that it did not ------------------------------------------------

def _tree(path: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``path`` (not following links): kind and content digest."""
    out: dict[str, tuple[str, str]] = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[rel] = ("dir" if p.is_dir() else "special", "")
    return out


class _Opens:
    """Audit hook: every path opened while armed (``open`` events carry the path as passed)."""

    def __init__(self) -> None:
        self.armed = False
        self.paths: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.armed and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            self.paths.append(os.fsdecode(args[0]))


_OPENS = _Opens()


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


# --- the attacks ---------------------------------------------------------------------------------------------

class Case:
    """One attack on step 20: ``apply(step_dir, outside, draw)``; ``expect`` is 'fallback', 'foreign' or a step."""

    def __init__(self, name: str, apply: Callable[[Path, Path, Any], None], expect: str | int = "fallback") -> None:
        self.name, self.apply, self.expect = name, apply, expect

    def __repr__(self) -> str:
        return f"Case({self.name!r})"


def _reseal(d: Path) -> None:
    """Recompute the manifest's entries and its own checksum: a consistent forgery that passes every checksum."""
    manifest = json.loads((d / ck.MANIFEST).read_text())
    for name in ck.DATA_FILES:
        if (d / name).is_file() and not (d / name).is_symlink():
            data = (d / name).read_bytes()
            manifest["files"][name] = {HASH_NAME: digest_of(data), "bytes": len(data)}
    _write_manifest(d, manifest)


def _write_manifest(d: Path, manifest: dict[str, Any]) -> None:
    manifest[ck.MANIFEST_HASH] = ck.manifest_digest(manifest)
    (d / ck.MANIFEST).write_text(json.dumps(manifest))


def _edit_state(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        state = json.loads((d / ck.STATE).read_text())
        edit(state)
        (d / ck.STATE).write_text(json.dumps(state))  # NaN and Infinity come out as JSON's extensions
        _reseal(d)
    return apply


def _edit_manifest(edit: Callable[[dict[str, Any]], None], reseal: bool = True) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        manifest = json.loads((d / ck.MANIFEST).read_text())
        edit(manifest)
        if reseal:
            _write_manifest(d, manifest)
        else:
            (d / ck.MANIFEST).write_text(json.dumps(manifest))
    return apply


def _edit_tensors(edit: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        tensors = dict(ck.load_checkpoint(d).tensors)
        tensors = {k: v.clone() for k, v in tensors.items()}
        edit(tensors)
        (d / ck.TENSORS).write_bytes(b"".join(bytes(b) for b in encode(tensors)))
        _reseal(d)
    return apply


def _raw_tensors(blob: Callable[[Path, Path], bytes]) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        (d / ck.TENSORS).write_bytes(blob(d, outside))
        _reseal(d)
    return apply


def _header(header: dict[str, Any], data: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + data


def _flip(d: Path, outside: Path, draw: Any) -> None:
    name = draw(st.sampled_from((ck.MANIFEST, ck.STATE, ck.TENSORS)))
    data = bytearray((d / name).read_bytes())
    pos = draw(st.integers(0, len(data) - 1))
    data[pos] ^= 1 << draw(st.integers(0, 7))
    (d / name).write_bytes(bytes(data))


def _truncate(d: Path, outside: Path, draw: Any) -> None:
    name = draw(st.sampled_from((ck.MANIFEST, ck.STATE, ck.TENSORS)))
    size = (d / name).stat().st_size
    os.truncate(d / name, draw(st.integers(0, size - 1)))


def _extend(d: Path, outside: Path, draw: Any) -> None:
    name = draw(st.sampled_from((ck.MANIFEST, ck.STATE, ck.TENSORS)))
    with open(d / name, "ab") as f:  # (trailing JSON whitespace would leave the manifest's content intact)
        f.write(draw(st.binary(min_size=1, max_size=64).filter(lambda b: b.strip(b" \t\n\r"))))


def _special(kind: str) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        name = draw(st.sampled_from((ck.MANIFEST, ck.STATE, ck.TENSORS)))
        target = d / name
        target.unlink()
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "dir":
            target.mkdir()
        elif kind == "dev-zero":
            target.symlink_to("/dev/zero")
        elif kind == "link-out":  # a link to an exact copy of the original file, outside: following it would "work"
            target.symlink_to(outside / "step_copy" / name)
    return apply


def _symlinked_step(d: Path, outside: Path, draw: Any) -> None:
    shutil.rmtree(d)
    d.symlink_to(outside / "step_copy", target_is_directory=True)  # a valid step 20, outside the root


def _newer_link(d: Path, outside: Path, draw: Any) -> None:
    (d.parent / "step_0000000030").symlink_to(outside / "step_copy", target_is_directory=True)


def _sparse(d: Path, outside: Path, draw: Any) -> None:
    os.truncate(d / ck.TENSORS, 1 << 40)  # 1 TB, sparse: a reader that allocates first dies of MemoryError
    manifest = json.loads((d / ck.MANIFEST).read_text())
    manifest["files"][ck.TENSORS]["bytes"] = 1 << 40
    _write_manifest(d, manifest)


def _foreign(d: Path, outside: Path, draw: Any) -> None:
    """A consistent step of another configuration (seed 1): valid in every respect but not this run's."""
    _edit_state(lambda s: s.update(config_hash="f" * 64))(d, outside, draw)
    _edit_manifest(lambda m: m.update(config_hash="f" * 64, config={**m["config"], "seed": 1}))(d, outside, draw)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_state(d: Path, outside: Path, draw: Any) -> None:
    text = (d / ck.STATE).read_text()
    (d / ck.STATE).write_text(text[:-1] + ', "deep": ' + _nested(draw(st.integers(100, 30_000))) + "}")
    _reseal(d)


def _nested_manifest(d: Path, outside: Path, draw: Any) -> None:
    (d / ck.MANIFEST).write_text('{"x": ' + _nested(draw(st.integers(100, 30_000))) + "}")


def _pickled(torch_flavour: bool) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        marker = outside / "pwned"
        if torch_flavour:
            buf = outside / "evil.pt"
            torch.save({"w": _Payload(marker)}, buf)
            blob = buf.read_bytes()
            buf.unlink()
        else:
            blob = pickle.dumps({"model/tok.weight": _Payload(marker)})
        (d / ck.TENSORS).write_bytes(blob)
        _reseal(d)
    return apply


def _state_value(path: tuple[Any, ...], options: list[Any]) -> Callable[[Path, Path, Any], None]:
    def apply(d: Path, outside: Path, draw: Any) -> None:
        value = draw(st.sampled_from(options))

        def edit(state: dict[str, Any]) -> None:
            node = state
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        _edit_state(edit)(d, outside, draw)
    return apply


def _nan_weight(tensors: dict[str, torch.Tensor]) -> None:
    tensors["model/tok.weight"][3, 5] = math.nan


def _inf_moment(tensors: dict[str, torch.Tensor]) -> None:
    tensors["optim/0/exp_avg_sq"][0, 0] = math.inf


CASES = [
    Case("bit flip", _flip),
    Case("truncated file", _truncate),
    Case("bytes appended", _extend),
    Case("fifo in place of a file", _special("fifo")),
    Case("directory in place of a file", _special("dir")),
    Case("symlink to /dev/zero", _special("dev-zero")),
    Case("symlink to a valid copy outside", _special("link-out")),
    Case("symlinked step directory", _symlinked_step),
    Case("newer symlinked step", _newer_link, expect=NEWEST),
    Case("sparse 1 TB tensors file", _sparse),
    Case("nested state.json", _nested_state),
    Case("nested manifest.json", _nested_manifest),
    Case("pickle as tensors", _pickled(False)),
    Case("torch.save as tensors", _pickled(True)),
    Case("config_hash bit flip, not resealed", _edit_manifest(
        lambda m: m.update(config_hash=m["config_hash"][:5] + "0123456789abcdef"[
            ("0123456789abcdef".index(m["config_hash"][5]) ^ 1)] + m["config_hash"][6:]), reseal=False)),
    Case("other configuration, resealed", _foreign, expect="foreign"),
    Case("manifest step 99 in step 20", _edit_manifest(lambda m: m.update(step=99))),
    Case("manifest format v1", _edit_manifest(lambda m: m.update(format_version=1))),
    Case("manifest lists a third file", _edit_manifest(lambda m: m["files"].update(extra={"bytes": 0}))),
    Case("manifest negative size", _edit_manifest(lambda m: m["files"][ck.STATE].update(bytes=-1))),
    Case("manifest float size", _edit_manifest(lambda m: m["files"][ck.STATE].update(bytes=1.5))),
    Case("manifest is a list", lambda d, o, draw: (d / ck.MANIFEST).write_text("[]")),
    Case("state step 99", _state_value(("step",), [99, -1, 10**100, "20", None])),
    Case("data index out of range", _state_value(("data_position", "index"),
                                                 [10**100, -1, 1.5, 32766, "3", None, math.inf])),
    Case("data epoch out of range", _state_value(("data_position", "epoch"), [2**62, -1, math.nan, [1]])),
    Case("learning rate", _state_value(("optimizer", "param_groups", 0, "lr"), [math.nan, math.inf, -1.0, "x"])),
    Case("betas", _state_value(("optimizer", "param_groups", 0, "betas"), [[2.0, 0.9], [0.9], "x", None])),
    Case("param ids", _state_value(("optimizer", "param_groups", 0, "params"), [[0], list(range(99)), None])),
    Case("scheduler last_epoch", _state_value(("scheduler", "last_epoch"), [math.inf, 99, -5, 1e300, None])),
    Case("scheduler lambdas", _state_value(("scheduler", "lr_lambdas"), [[{"__call__": 1}], [], None])),
    Case("python rng", _state_value(("rng", "python"), [[3, [1, 2], None], [2, [], 0.5], "x", None])),
    Case("numpy rng", _state_value(("rng", "numpy"), [["PCG64", 0, 0, 0.0], ["MT19937", 999, 0, 0.0], []])),
    Case("optimizer scalars", _state_value(("optimizer", "scalars"), [{"0": {"step": 1}}, [], None])),
    Case("NaN weight", _edit_tensors(_nan_weight)),
    Case("inf moment", _edit_tensors(_inf_moment)),
    Case("wrong dtype", _edit_tensors(lambda t: t.update({"model/tok.weight": t["model/tok.weight"].double()}))),
    Case("wrong shape", _edit_tensors(lambda t: t.update({"model/tok.weight": t["model/tok.weight"][:-1]}))),
    Case("missing tensor", _edit_tensors(lambda t: t.pop("model/pos.weight"))),
    Case("extra tensor", _edit_tensors(lambda t: t.update({"evil/x": torch.zeros(3)}))),
    Case("foreign rng key", _edit_tensors(lambda t: t.update({"rng/numpy_key": -t["rng/numpy_key"] - 1}))),
    Case("offsets past the end", _raw_tensors(lambda d, o: _header(
        {"model/tok.weight": {"dtype": "F32", "shape": [256, 32], "data_offsets": [0, 32768]}}, b"\0" * 16))),
    Case("header length past the end", _raw_tensors(lambda d, o: struct.pack("<Q", 1 << 62) + b"{}")),
    Case("nested header", _raw_tensors(lambda d, o: _header({"a": json.loads(_nested(50))}))),
    Case("header of another type", _raw_tensors(lambda d, o: _header([1, 2, 3]))),  # type: ignore[arg-type]
]


def _setup_case(pristine: Pristine, base: Path) -> tuple[Path, Path]:
    root, outside = base / "ck", base / "outside"
    shutil.copytree(pristine.root, root, symlinks=True)
    outside.mkdir()
    shutil.copytree(root / f"step_{NEWEST:010d}", outside / "step_copy")
    (outside / "victim.txt").write_text("must survive")
    return root, outside


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.replace(" ", "-"))
@settings(max_examples=EXAMPLES_PER_ATTACK)
@given(draw=st.data())
def test_hostile_checkpoint_falls_back_or_stops_cleanly(pristine: Pristine, case: Case, draw: st.DataObject) -> None:
    """Every generated attack on the newest step falls back to step 10 with a warning, or stops with one line."""
    job = pristine.job
    GENERATED.append(case.name)
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = _setup_case(pristine, Path(tmp))
        case.apply(root / f"step_{NEWEST:010d}", outside, draw.draw)
        before = _tree(outside)
        warnings: list[str] = []
        _OPENS.paths.clear()
        _OPENS.armed = True
        try:
            with time_limit(CASE_TIMEOUT_S):
                ck.remove_uncommitted(root)
                outcome: Any
                try:
                    found = resume(job, root, None, warnings.append)
                    outcome = found.step if found is not None else None
                except ForeignCheckpointError as exc:
                    outcome, message = "foreign", str(exc)
                ck.prune(root, keep_last_k=1)  # what the next save does: never acts outside the root
                ck.write_checkpoint(root, ck.Checkpoint(step=NEWEST, config_hash="h", plan_id="p",
                                                        tensors={"w": torch.ones(2)}, state={}))
        finally:
            _OPENS.armed = False
        assert _tree(outside) == before, f"{case.name}: something outside the checkpoint directory changed"
        assert not (outside / "pwned").exists(), f"{case.name}: a planted pickle payload ran"
        escaped = [p for p in _OPENS.paths if Path(p).is_absolute() and Path(p).is_relative_to(outside)]
        assert not escaped, f"{case.name}: opened outside the checkpoint directory: {escaped}"
        if case.expect == "foreign":
            assert outcome == "foreign", (case.name, outcome, warnings)
            assert len(message.splitlines()) == 1 and "seed: checkpoint 1, this run 0" in message, message
            return
        expected_step = GOOD if case.expect == "fallback" else case.expect
        assert outcome == expected_step, (case.name, outcome, warnings)
        if expected_step == GOOD:
            for name, w in pristine.weights_at_good.items():
                assert torch.equal(job.train.model.state_dict()[name], w), (case.name, name)
        # the attacked step is refused with one line, said once; no other step is refused
        assert len(warnings) == 1 and len(warnings[0].splitlines()) == 1, (case.name, warnings)
        attacked = NEWEST if expected_step == GOOD else 30
        assert warnings[0].startswith(f"skipping checkpoint step {attacked}:"), (case.name, warnings)




def test_all_steps_invalid_stops_with_one_line(pristine: Pristine, tmp_path: Path) -> None:
    """Committed steps that all fail: a CheckpointError (exit 2), never a fresh start beside them."""
    job = pristine.job
    root, _ = _setup_case(pristine, tmp_path)
    for step in (GOOD, NEWEST):
        d = root / f"step_{step:010d}"
        data = bytearray((d / ck.TENSORS).read_bytes())
        data[-1] ^= 0xFF
        (d / ck.TENSORS).write_bytes(bytes(data))
    warnings: list[str] = []
    with pytest.raises(CheckpointError, match="no valid checkpoint to resume") as info:
        resume(job, root, None, warnings.append)
    assert len(str(info.value).splitlines()) == 1 and len(warnings) == 2
    assert sorted(p.name for p in root.iterdir()) == [f"step_{GOOD:010d}", f"step_{NEWEST:010d}"]  # nothing deleted


def test_nonfinite_weights_load_when_allowed(pristine: Pristine, tmp_path: Path) -> None:
    """--allow-nonfinite lets a run resume from NaN weights (for debugging a divergence) instead of falling back."""
    job = pristine.job
    root, outside = _setup_case(pristine, tmp_path)
    _edit_tensors(_nan_weight)(root / f"step_{NEWEST:010d}", outside, None)
    found = resume(job, root, None, lambda m: None, check_finite=False)
    assert found is not None and found.step == NEWEST
    assert torch.isnan(job.train.model.state_dict()["tok.weight"][3, 5])


def test_prune_never_deletes_through_a_symlinked_step(pristine: Pristine, tmp_path: Path) -> None:
    """The red-team finding: a prune deleted the manifest outside the checkpoint directory. Now it leaves it."""
    root, outside = _setup_case(pristine, tmp_path)
    (root / "step_0000000001").symlink_to(outside / "step_copy", target_is_directory=True)
    before = _tree(outside)
    assert ck.prune(root, keep_last_k=1) == [GOOD]
    ck.remove_uncommitted(root)
    assert _tree(outside) == before and (root / "step_0000000001").is_symlink()


def test_at_least_200_hostile_checkpoints_were_generated() -> None:
    """Runs last in this file: the parametrised fuzz above generated at least 200 distinct attacks in all."""
    if len(set(GENERATED)) < len(CASES):
        pytest.skip("the fuzz test was deselected in this session")
    assert len(GENERATED) >= MIN_GENERATED, len(GENERATED)
    print(f"{len(GENERATED)} hostile checkpoints generated over {len(CASES)} attacks")
