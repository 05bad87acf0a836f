"""The runner under torchrun on CPU (gloo, 2-3 processes): data-parallel training, notices that reach every rank,
a worker killed without notice, resuming at another world size, and the torchrun line ``recommend`` prints.

Each torchrun is a fresh ``--standalone`` launch bounded by a timeout (restarts happen at the outer level, as
``../shared/reference/stack.md`` section 8 recommends); interruptions land at a chosen step through
``tests.support.pause_runner``, never by timing.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spotplan.advisor.emit import torchrun_command
from spotplan.runner import checkpoint as ck
from spotplan.runner.policy import ExitCode
from spotplan.schemas.plan import ModelSpec
from spotplan.schemas.run_report import RunReport
from tests.support.runner import make_plan, read_log, runner_env, wait_for, write_plan

pytestmark = pytest.mark.distributed
TORCHRUN_TIMEOUT_S = 240
STEPS = 60


def _torchrun(nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]


def _run_args(plan: Path, root: Path, max_steps: int) -> list[str]:
    return ["run", str(plan), "--checkpoint-dir", str(root), "--model-size", "tiny", "--device", "cpu", "--no-imds",
            "--max-steps", str(max_steps)]


def _launch(nproc: int, plan: Path, root: Path, max_steps: int = STEPS) -> subprocess.CompletedProcess[str]:
    cmd = [*_torchrun(nproc), "-m", "spotplan.cli", *_run_args(plan, root, max_steps)]
    return subprocess.run(cmd, env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S,
                          check=False)


def _paused(nproc: int, plan: Path, root: Path, step: int, marker: Path, hold: Path) -> subprocess.Popen[str]:
    cmd = [*_torchrun(nproc), "-m", "tests.support.pause_runner", "train", str(step), str(marker), "--hold",
           str(hold), "--", *_run_args(plan, root, STEPS)]
    return subprocess.Popen(cmd, env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> str:
    try:
        _, err = proc.communicate(timeout=TORCHRUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    return err


def _state(root: Path, step: int) -> ck.Checkpoint:
    return ck.load_checkpoint(ck.step_dir(root, step))


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An uninterrupted 2-process run of 60 steps: (plan, checkpoint directory)."""
    d = tmp_path_factory.mktemp("ddp")
    plan = write_plan(d / "plan.yaml")
    done = _launch(2, plan, d / "whole")
    assert done.returncode == 0, done.stderr[-3000:]
    return plan, d / "whole"


def test_two_ranks_train_one_model_and_rank_0_alone_writes(whole: tuple[Path, Path]) -> None:
    """Data-parallel: one run log and report (rank 0), manifests say world size 2, and the loss curve is the
    single-process curve up to float reduction order."""
    plan, root = whole
    report = RunReport.load(root / "run_report.json")
    assert report.end_step == STEPS and report.exit_code == 0 and len(report.losses) == STEPS
    assert json.loads((ck.step_dir(root, STEPS) / ck.MANIFEST).read_text())["world_size"] == 2
    starts = [e for e in read_log(root / "run_log.jsonl") if e["event"] == "start"]
    assert len(starts) == 1  # rank 1 writes no log
    single = subprocess.run([sys.executable, "-m", "spotplan.cli", *_run_args(plan, root.parent / "single", STEPS)],
                            env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert single.returncode == 0, single.stderr[-2000:]
    ref = RunReport.load(root.parent / "single" / "run_report.json").losses
    assert max(abs(a - b) for a, b in zip(ref, report.losses, strict=True)) < 1e-4
    assert _state(root, STEPS).state["data_position"] == _state(root.parent / "single", STEPS).state["data_position"]


def test_a_worker_killed_without_notice_reruns_to_the_same_state(whole: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL to rank 1 at step 35: torchrun fails, a fresh launch resumes from step 30, and the final
    parameters, optimizer state and loss curve equal the uninterrupted 2-process run's, bit for bit."""
    plan, ref_root = whole
    root, marker, hold = tmp_path / "ck", tmp_path / "paused", tmp_path / "hold"
    hold.touch()
    proc = _paused(2, plan, root, 36, marker, hold)  # paused before its 36th step: step 35 is done
    try:
        wait_for(lambda: Path(f"{marker}.1").exists(), TORCHRUN_TIMEOUT_S, "rank 1 at step 35", proc)
        os.kill(int(Path(f"{marker}.1").read_text()), signal.SIGKILL)
        hold.unlink()
    finally:
        err = _finish(proc)
    assert proc.returncode != 0, err[-2000:]
    rerun = _launch(2, plan, root)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    report = RunReport.load(root / "run_report.json")
    assert report.start_step == 30 and report.restored_from == "local"
    a, b = _state(ref_root, STEPS), _state(root, STEPS)
    assert set(a.tensors) == set(b.tensors)
    for name in a.tensors:
        assert torch.equal(a.tensors[name], b.tensors[name]), name
    assert a.state == b.state
    assert report.losses_from_step == 31  # the killed attempt left no report: the curve starts at the resume
    assert report.losses == RunReport.load(ref_root / "run_report.json").losses[30:]


def test_a_notice_to_one_rank_stops_every_rank_at_the_same_step(whole: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGTERM to rank 1 only: both ranks stop after the same step, rank 0 saves it, every worker exits 75, and
    the next launch resumes from exactly that step."""
    plan, _ = whole
    root, marker, hold = tmp_path / "ck", tmp_path / "paused", tmp_path / "hold"
    hold.touch()
    proc = _paused(2, plan, root, 25, marker, hold)
    try:
        wait_for(lambda: Path(f"{marker}.1").exists() and Path(f"{marker}.0").exists(), TORCHRUN_TIMEOUT_S,
                 "both ranks at step 24", proc)
        os.kill(int(Path(f"{marker}.1").read_text()), signal.SIGTERM)
        hold.unlink()
    finally:
        err = _finish(proc)
    assert proc.returncode != 0 and err.count("exitcode  : 75") == 2, err[-3000:]  # every worker: 75
    report = RunReport.load(root / "run_report.json")
    assert report.exit_code == ExitCode.PREEMPTED and report.end_step == 25, report.exit_reason
    assert report.notice_source == "peer"  # rank 0 learnt it from rank 1
    saves = [e for e in read_log(root / "run_log.jsonl") if e["event"] == "save"]
    assert saves[-1]["kind"] == "emergency" and saves[-1]["step"] == 25
    rerun = _launch(2, plan, root)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert RunReport.load(root / "run_report.json").start_step == 25


def test_a_two_rank_checkpoint_resumes_at_one_and_three_ranks(whole: tuple[Path, Path], tmp_path: Path) -> None:
    """Step 60 of the 2-process run resumes in 1 process and in 3 (4 rows over 3 ranks: weighted shares): both
    continue the same trajectory from the same data position, the loss keeps falling, and no sample repeats."""
    plan, ref_root = whole
    reports = {}
    for nproc in (1, 3):
        root = tmp_path / f"w{nproc}"
        root.mkdir()
        src = ck.step_dir(ref_root, STEPS)
        (root / src.name).mkdir()
        for f in src.iterdir():
            (root / src.name / f.name).write_bytes(f.read_bytes())
        done = (subprocess.run([sys.executable, "-m", "spotplan.cli", *_run_args(plan, root, 90)], env=runner_env(),
                               capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
                if nproc == 1 else _launch(nproc, plan, root, 90))
        assert done.returncode == 0, done.stderr[-3000:]
        reports[nproc] = RunReport.load(root / "run_report.json")
        assert reports[nproc].start_step == STEPS and reports[nproc].end_step == 90
        assert json.loads((ck.step_dir(root, 90) / ck.MANIFEST).read_text())["world_size"] == nproc
    a, b = _state(tmp_path / "w1", 90), _state(tmp_path / "w3", 90)
    assert a.state["data_position"] == b.state["data_position"]  # the global position: nothing skipped or repeated
    assert max(abs(x - y) for x, y in zip(reports[1].losses, reports[3].losses, strict=True)) < 1e-4
    earlier = RunReport.load(ref_root / "run_report.json").losses
    assert sum(reports[3].losses[-10:]) / 10 < sum(earlier[:10]) / 10  # still learning


def test_the_printed_torchrun_line_runs_as_printed(tmp_path: Path) -> None:
    """``recommend``'s torchrun line for a 2-process plan, run verbatim on CPU, trains data-parallel to the end."""
    model = make_plan().model.model_dump()
    plan = make_plan(model=ModelSpec(**{**model, "total_steps": 30}))
    plan.dump(tmp_path / "plan.yaml")
    line = torchrun_command(plan, gpus_per_node=2, plan_path="plan.yaml")
    assert line.startswith("torchrun --standalone --nproc_per_node=2 --no-python spotplan run plan.yaml"), line
    env = runner_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / "checkpoints"
    assert RunReport.load(root / "run_report.json").end_step == 30
    assert json.loads((ck.step_dir(root, 30) / ck.MANIFEST).read_text())["world_size"] == 2


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


def _copy_steps(src_root: Path, dst_root: Path, steps: tuple[int, ...]) -> None:
    dst_root.mkdir()
    for step in steps:
        src = ck.step_dir(src_root, step)
        (dst_root / src.name).mkdir()
        for f in src.iterdir():
            (dst_root / src.name / f.name).write_bytes(f.read_bytes())


def _replace_metadata(d: Path, blob: bytes) -> None:
    """Put ``blob`` in place of DCP's .metadata and reseal the manifest: every checksum matches."""
    from spotplan.runner.fsio import HASH_NAME, digest_of

    (d / ".metadata").write_bytes(blob)
    manifest = json.loads((d / ck.MANIFEST).read_text())
    manifest["files"][".metadata"] = {HASH_NAME: digest_of(blob), "bytes": len(blob)}
    manifest[ck.MANIFEST_HASH] = ck.manifest_digest(manifest)
    (d / ck.MANIFEST).write_text(json.dumps(manifest))


def test_a_planted_pickle_in_dcp_metadata_never_runs(whole: tuple[Path, Path], tmp_path: Path) -> None:
    """DCP's own reader would unpickle a payload planted in .metadata (shown in a child process); spotplan's
    allowlist unpickler refuses it, the step is skipped with one line and the run resumes from the step before."""
    import pickle

    from spotplan.runner.job import build_job
    from spotplan.runner.loop import RunOptions
    from spotplan.runner.resume import resume

    _, ref_root = whole
    root = tmp_path / "ck"
    _copy_steps(ref_root, root, (50, STEPS))
    marker, probe = tmp_path / "pwned", tmp_path / "probe"
    newest = ck.step_dir(root, STEPS)
    _replace_metadata(newest, pickle.dumps(_Payload(probe)))
    live = subprocess.run(
        [sys.executable, "-c", ("import sys; from torch.distributed.checkpoint import FileSystemReader; "
                                "FileSystemReader(sys.argv[1]).read_metadata()"), str(newest)],
        env=runner_env(), capture_output=True, text=True, timeout=120, check=False)
    assert probe.exists(), live.stderr[-1000:]  # the payload is live against an unguarded reader
    _replace_metadata(newest, pickle.dumps(_Payload(marker)))
    with pytest.raises(ck.CheckpointError, match="refusing to unpickle"):
        ck.load_checkpoint(newest)
    warnings: list[str] = []
    job = build_job(make_plan(), model_size="tiny", device=torch.device("cpu"), seed=0,
                    corpus_bytes=RunOptions(plan=make_plan(), checkpoint_dir=root).corpus_bytes)  # as `spotplan run`
    found = resume(job, root, None, warnings.append)
    assert found is not None and found.step == 50 and not marker.exists()
    assert len(warnings) == 1 and "not a DCP metadata type" in warnings[0]


def test_dcp_metadata_pointing_outside_the_step_is_refused(whole: tuple[Path, Path], tmp_path: Path) -> None:
    """A well-formed (allowlisted) metadata whose storage item names a file outside the step is refused before
    DCP opens anything; so is a shard file replaced by a symlink."""
    import dataclasses
    import pickle

    from spotplan.runner.sharded import SafeMetadataUnpickler

    _, ref_root = whole
    root = tmp_path / "ck"
    _copy_steps(ref_root, root, (STEPS,))
    d = ck.step_dir(root, STEPS)
    (tmp_path / "outside.distcp").write_bytes((d / "__0_0.distcp").read_bytes())
    with open(d / ".metadata", "rb") as f:
        md = SafeMetadataUnpickler(f).load()
    key = next(iter(md.storage_data))
    md.storage_data[key] = dataclasses.replace(md.storage_data[key], relative_path="../outside.distcp")
    _replace_metadata(d, pickle.dumps(md))
    with pytest.raises(ck.CheckpointError, match="points outside"):
        ck.load_checkpoint(d)
    shutil_copy = tmp_path / "ck2"
    _copy_steps(ref_root, shutil_copy, (STEPS,))
    shard = ck.step_dir(shutil_copy, STEPS) / "__1_0.distcp"
    shard.unlink()
    shard.symlink_to(tmp_path / "outside.distcp")
    with pytest.raises(ck.CheckpointError, match="symlink"):
        ck.load_checkpoint(ck.step_dir(shutil_copy, STEPS))


def _worker_pid(marker: str, rank: int) -> int | None:
    """The pid of the torchrun worker of ``rank`` whose command line mentions ``marker`` (from /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = marker.encode() in b" ".join(cmdline) and any(a.endswith(b"spotplan.cli") for a in cmdline)
        if ours and b"run" in cmdline and f"RANK={rank}".encode() in env and f"LOCAL_RANK={rank}".encode() in env:
            return int(proc.name)
    return None


def test_launch_relaunches_after_a_worker_dies_and_completes(whole: tuple[Path, Path], tmp_path: Path) -> None:
    """``spotplan launch``: a worker SIGKILLed after the first checkpoint fails the attempt; the supervisor
    launches again, the run resumes from the newest checkpoint and ends bit-identical to an uninterrupted run."""
    plan, ref_root = whole
    root = tmp_path / "launched"
    cmd = [sys.executable, "-m", "spotplan.cli", "launch", str(plan), "--nproc-per-node", "2", "--max-attempts", "3",
           "--checkpoint-dir", str(root), "--model-size", "tiny", "--device", "cpu", "--no-imds",
           "--max-steps", str(STEPS)]
    proc = subprocess.Popen(cmd, env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(e["event"] == "save" for e in read_log(root / "run_log.jsonl")), TORCHRUN_TIMEOUT_S,
                 "the first checkpoint", proc)
        pid = _worker_pid(str(root), 1)
        assert pid is not None, "rank 1's worker not found"
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=2 * TORCHRUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0, (out[-2000:], err[-2000:])
    assert "attempt 1/3 failed" in out and "run complete after 2 attempt(s)" in out, out
    a, b = _state(ref_root, STEPS), _state(root, STEPS)
    for name in a.tensors:
        assert torch.equal(a.tensors[name], b.tensors[name]), name
    restores = [e for e in read_log(root / "run_log.jsonl") if e["event"] == "restore" and e.get("ok")]
    assert len(restores) == 1 and restores[0]["step"] >= 10


def test_launch_stops_at_once_on_a_user_error(tmp_path: Path) -> None:
    """A checkpoint directory of another configuration: one attempt, exit 2, the reason shown; no relaunch loop."""
    plan = write_plan(tmp_path / "plan.yaml")
    root = tmp_path / "ck"
    first = subprocess.run([sys.executable, "-m", "spotplan.cli", *_run_args(plan, root, 10)], env=runner_env(),
                           capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert first.returncode == 0, first.stderr
    cmd = [sys.executable, "-m", "spotplan.cli", "launch", str(plan), "--nproc-per-node", "2", "--checkpoint-dir",
           str(root), "--model-size", "tiny", "--device", "cpu", "--no-imds", "--max-steps", "20", "--seed", "7"]
    done = subprocess.run(cmd, env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S,
                          check=False)
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    assert "launch: stopped:" in done.stdout and "seed: checkpoint 0, this run 7" in done.stdout
    assert done.stdout.count("launch:") == 1


def test_fsdp_trains_as_ddp_does_and_its_checkpoint_loads_in_one_process(whole: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    """``--parallel fsdp`` (fully_shard, DTensor state): the loss curve of DDP's run within float reduction order;
    its DCP step loads in one process and training goes on; a one-process step loads back into the shards."""
    plan, ref_root = whole
    root = tmp_path / "fsdp"
    cmd = [*_torchrun(2), "-m", "spotplan.cli", *_run_args(plan, root, 30), "--parallel", "fsdp"]
    done = subprocess.run(cmd, env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    losses = RunReport.load(root / "run_report.json").losses
    ddp = RunReport.load(ref_root / "run_report.json").losses[:30]
    assert max(abs(a - b) for a, b in zip(losses, ddp, strict=True)) < 1e-4
    manifest = json.loads((ck.step_dir(root, 30) / ck.MANIFEST).read_text())
    assert manifest["layout"] == "dcp" and manifest["world_size"] == 2
    single = subprocess.run([sys.executable, "-m", "spotplan.cli", *_run_args(plan, root, 40)], env=runner_env(),
                            capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert single.returncode == 0, single.stderr[-2000:]
    back = subprocess.run([*_torchrun(2), "-m", "spotplan.cli", *_run_args(plan, root, 50), "--parallel", "fsdp"],
                          env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert back.returncode == 0, back.stderr[-3000:]
    report = RunReport.load(root / "run_report.json")
    assert report.start_step == 40 and report.end_step == 50 and report.losses_from_step == 1
    assert len(report.losses) == 50 and report.losses[-1] < report.losses[0]
    # an FSDP run resumes its own DCP step 50 into the live shards: rank 0 restores about half the bytes the
    # single process restored (step 30), and training goes on
    again = subprocess.run([*_torchrun(2), "-m", "spotplan.cli", *_run_args(plan, root, 55), "--parallel", "fsdp"],
                           env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    restores = {e["step"]: e["bytes"] for e in read_log(root / "run_log.jsonl") if e["event"] == "restore" and e["ok"]}
    assert restores[50] < 0.6 * restores[30], restores
    assert RunReport.load(root / "run_report.json").end_step == 55
    # the 2-rank FSDP step 50 read at 3 ranks into the live shards: each rank holds only its slices, equal to
    # the full load once gathered
    out = tmp_path / "sharded"
    load = subprocess.run([*_torchrun(3), "-m", "tests.support.sharded_load", str(plan), str(ck.step_dir(root, 50)),
                           str(out)], env=runner_env(), capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S,
                          check=False)
    assert load.returncode == 0, load.stderr[-3000:]
    for rank in range(3):
        got = json.loads(Path(f"{out}.{rank}").read_text())
        assert got["equal"] and got["dtensors"] > 0, got
        assert got["sharded_bytes"] < 0.45 * got["full_bytes"], got  # about a third, plus the small unsharded
