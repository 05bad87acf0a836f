"""Checkpoint format: commit rule, checksums, fallback to the previous valid step, no unpickling, keep-last-K."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from spotplan.errors import CheckpointError
from spotplan.runner import checkpoint as ck
from spotplan.runner.fsio import HASH_NAME, digest_of


def _ckpt(step: int, scale: float = 1.0) -> ck.Checkpoint:
    gen = torch.Generator().manual_seed(step)
    tensors = {
        "model/w": torch.randn(16, 8, generator=gen) * scale,
        "model/b16": torch.randn(5, generator=gen).to(torch.bfloat16),
        "optim/0/step": torch.tensor(float(step)),
        "rng/torch_cpu": torch.get_rng_state(),
        "model/empty": torch.empty(0, 3),
        "data/ids": torch.arange(7, dtype=torch.int64),
    }
    return ck.Checkpoint(step=step, config_hash="cfg", plan_id="p", tensors=tensors,
                         state={"data_position": {"epoch": 0, "index": step}, "note": 0.1 + 0.2})


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    """A written checkpoint loads back with identical tensors, dtypes and JSON state."""
    original = _ckpt(7)
    info = ck.write_checkpoint(tmp_path, original)
    loaded = ck.load_checkpoint(info.path)
    assert loaded.step == 7 and loaded.config_hash == "cfg" and loaded.plan_id == "p"
    assert set(loaded.tensors) == set(original.tensors)
    for name, t in original.tensors.items():
        assert loaded.tensors[name].dtype == t.dtype and torch.equal(loaded.tensors[name], t), name
    assert loaded.state["note"] == 0.1 + 0.2 and loaded.state["data_position"] == {"epoch": 0, "index": 7}
    # our hand-written safetensors file is readable by the reference library too
    ref = load_file(str(info.path / ck.TENSORS))
    assert torch.equal(ref["model/w"], original.tensors["model/w"])


def test_manifest_lists_checksum_of_every_file(tmp_path: Path) -> None:
    """manifest.json carries size and XXH3-128 of each data file, matching the bytes on disk."""
    d = ck.write_checkpoint(tmp_path, _ckpt(3)).path
    manifest = json.loads((d / ck.MANIFEST).read_text())
    assert manifest["step"] == 3 and manifest["world_size"] == 1
    for name in ck.DATA_FILES:
        data = (d / name).read_bytes()
        assert manifest["files"][name] == {HASH_NAME: xxhash.xxh3_128_hexdigest(data), "bytes": len(data)}


def test_flipped_byte_falls_back_to_previous_step(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One flipped byte in the newest step is detected; the previous valid step is used, with a warning."""
    ck.write_checkpoint(tmp_path, _ckpt(10))
    newest = ck.write_checkpoint(tmp_path, _ckpt(20)).path
    blob = bytearray((newest / ck.TENSORS).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (newest / ck.TENSORS).write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="checksum"):
        ck.verify_step(newest)
    warnings: list[str] = []
    with caplog.at_level(logging.WARNING, logger="spotplan.runner"):
        first = next(ck.iter_valid(tmp_path, warnings.append))
    assert first.step == 10
    assert warnings and "step 20" in warnings[0] and "step 20" in caplog.text


def test_step_without_manifest_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between the data files and the manifest rename leaves a step that is skipped and cleaned up."""
    ck.write_checkpoint(tmp_path, _ckpt(10))

    def crash(path: Path, data: bytes) -> str:
        path.with_name(f".{path.name}.tmp-1").write_bytes(data[: len(data) // 2])
        raise OSError("killed before rename")

    monkeypatch.setattr(ck, "write_atomic", crash)
    with pytest.raises(OSError):
        ck.write_checkpoint(tmp_path, _ckpt(20))
    assert (ck.step_dir(tmp_path, 20) / ck.TENSORS).exists()
    assert [c.step for c in ck.iter_valid(tmp_path)] == [10]
    assert ck.remove_uncommitted(tmp_path) == [20]
    assert not ck.step_dir(tmp_path, 20).exists()


def test_truncated_and_garbled_manifest_are_skipped(tmp_path: Path) -> None:
    """A manifest that is not JSON, or lists other files, is not trusted."""
    d = ck.write_checkpoint(tmp_path, _ckpt(5)).path
    (d / ck.MANIFEST).write_text('{"format": "spotplan-checkpoint", "step": 5')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        ck.load_checkpoint(d)
    (d / ck.MANIFEST).write_text(json.dumps({"format": "other", "step": 5, "files": {}}))
    with pytest.raises(CheckpointError, match="manifest"):
        ck.load_checkpoint(d)


class _Payload:
    """Pickle whose unpickling creates a marker file (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (subprocess.call, ([sys.executable, "-c", f"open({str(self.marker)!r}, 'w').write('pwned')"],))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    """A checkpoint whose tensor file is a pickle (with a matching manifest hash) is refused; its payload never runs."""
    marker = tmp_path / "marker"
    evil = pickle.dumps({"model/w": _Payload(marker)})
    # the payload is live: unpickling it in a child process does create the marker
    probe = tmp_path / "probe"
    subprocess.run([sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=pickle.dumps(_Payload(probe)), check=True, timeout=60)
    assert probe.exists()
    torch.save({"w": _Payload(marker)}, tmp_path / "evil.pt")  # the torch.save flavour of the same attack
    for blob in (evil, (tmp_path / "evil.pt").read_bytes()):
        d = ck.write_checkpoint(tmp_path / "ckpts", _ckpt(1)).path
        (d / ck.TENSORS).write_bytes(blob)
        manifest = json.loads((d / ck.MANIFEST).read_text())
        manifest["files"][ck.TENSORS] = {HASH_NAME: digest_of(blob), "bytes": len(blob)}
        manifest[ck.MANIFEST_HASH] = ck.manifest_digest(manifest)  # a consistent, resealed forgery
        (d / ck.MANIFEST).write_text(json.dumps(manifest))
        with pytest.raises(CheckpointError, match="refusing to load"):
            ck.load_checkpoint(d)
        assert list(ck.iter_valid(tmp_path / "ckpts")) == []
    assert not marker.exists()


def test_keep_last_k_prunes_oldest_committed(tmp_path: Path) -> None:
    """After five commits with K=2 only the two newest steps remain; an in-flight newer directory is left alone."""
    for step in (1, 2, 3, 4, 5):
        ck.write_checkpoint(tmp_path, _ckpt(step))
    ck.step_dir(tmp_path, 6).mkdir()  # a save of step 6 in flight (no manifest yet)
    removed = ck.prune(tmp_path, 2)
    assert sorted(removed) == [1, 2, 3]
    assert [s for s, _ in ck.list_step_dirs(tmp_path)] == [6, 5, 4]


def test_rewriting_an_existing_step_replaces_it(tmp_path: Path) -> None:
    """Saving a step that already exists (resume after a fallback) replaces it with the new content."""
    ck.write_checkpoint(tmp_path, _ckpt(4, scale=1.0))
    d = ck.write_checkpoint(tmp_path, _ckpt(4, scale=2.0)).path
    assert torch.equal(ck.load_checkpoint(d).tensors["model/w"], _ckpt(4, scale=2.0).tensors["model/w"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(ck.DATA_FILES), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_bit_is_detected(tmp_path_factory: pytest.TempPathFactory, which: str, where: float,
                                     bit: int) -> None:
    """Flipping any single bit of any data file makes the step fail verification with CheckpointError."""
    d = ck.write_checkpoint(tmp_path_factory.mktemp("flip"), _ckpt(2)).path
    blob = bytearray((d / which).read_bytes())
    blob[int(where * len(blob))] ^= 1 << bit
    (d / which).write_bytes(bytes(blob))
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(d)


def test_reader_accepts_reference_writer_output() -> None:
    """Files from the reference safetensors writer decode to equal tensors with our zero-copy reader."""
    from safetensors.torch import save

    from spotplan.runner.tensorfile import decode

    original = _ckpt(9).tensors
    got = decode(bytearray(save({k: v for k, v in original.items()})))
    assert set(got) == set(original)
    assert all(torch.equal(got[k], v) and got[k].dtype == v.dtype for k, v in original.items())


def test_writer_aligns_every_tensor() -> None:
    """Widest dtypes come first, so each tensor's offset is a multiple of its element size."""
    from spotplan.runner.tensorfile import decode, encode

    tensors = {"a_bool": torch.ones(3, dtype=torch.bool), "b_bf16": torch.ones(5, dtype=torch.bfloat16),
               "c_f32": torch.ones(7), "d_i64": torch.ones(2, dtype=torch.int64)}
    buf = bytearray(b"".join(bytes(p) for p in encode(tensors)))
    for name, t in decode(buf).items():
        assert t.data_ptr() % t.element_size() == 0 and torch.equal(t, tensors[name]), name


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=300), header=st.dictionaries(
    st.text(max_size=5), st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "I64", "U8", "X"]),
                                                "shape": st.lists(st.integers(-2, 4), max_size=3),
                                                "data_offsets": st.lists(st.integers(-1, 40), max_size=3)}),
    max_size=3))
def test_reader_rejects_garbage_with_checkpoint_error_only(blob: bytes, header: dict) -> None:
    """Arbitrary bytes, or a JSON header with arbitrary entries, decode or raise CheckpointError, nothing else; and
    the reader is at least as strict as the safetensors package's own (hardened, Rust) parser: whatever it accepts,
    the reference accepts too, with equal tensors."""
    from safetensors.torch import load as reference_load

    from spotplan.runner.tensorfile import decode

    head = json.dumps(header).encode()
    for data in (blob, len(head).to_bytes(8, "little") + head + blob):
        try:
            ours = decode(bytearray(data))
        except CheckpointError:
            continue
        theirs = reference_load(bytes(data))
        assert set(ours) == set(theirs)
        assert all(torch.equal(ours[k], theirs[k]) and ours[k].dtype == theirs[k].dtype for k in ours)


_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int8,
           torch.uint8, torch.bool)


@settings(max_examples=60, deadline=None)
@given(specs=st.dictionaries(st.text(min_size=1, max_size=8), st.tuples(
    st.sampled_from(_DTYPES), st.lists(st.integers(0, 5), max_size=3)), min_size=1, max_size=6), seed=st.integers(0, 99))
def test_reader_and_reference_agree_on_valid_files(specs: dict, seed: int) -> None:
    """Random tensor sets written by the reference writer decode to equal tensors here, and ours to equal
    tensors there: the two formats are the same format."""
    from safetensors.torch import load as reference_load
    from safetensors.torch import save as reference_save

    from spotplan.runner.tensorfile import decode, encode

    gen = torch.Generator().manual_seed(seed)
    tensors = {name: (torch.rand(shape, generator=gen) * 100).to(dtype) for name, (dtype, shape) in specs.items()}
    ours = decode(bytearray(reference_save(tensors)))
    theirs = reference_load(b"".join(bytes(p) for p in encode(tensors)))
    for got in (ours, theirs):
        assert set(got) == set(tensors)
        assert all(torch.equal(got[k], v) and got[k].dtype == v.dtype for k, v in tensors.items())
