"""The training loop: restore, train, checkpoint at the plan's interval, react to notices, report.

Order at every step boundary: periodic save if due, then the notice check. On a notice the loop makes an
emergency save only if it can finish before the notice's deadline (``policy.emergency_save_fits``); otherwise
it keeps the last periodic checkpoint. Either way it waits for the save in flight and exits with
``ExitCode.PREEMPTED``. Every notice, save, upload, restore and exit goes to the JSON-lines run log.

Under torchrun the same loop trains data-parallel (``runner.dist``): the global batch is the plan's, rank r takes
rows r, r+W, ... of it and DDP averages the gradients (a rank's loss is weighted by its share of rows when W does
not divide the batch, so the average is the global batch's gradient at any width). The data position is global,
so a run resumes at another world size without skipping or repeating a sample, with the same learning rate. Every step boundary agrees on notices
(one rank's notice stops all at the same step). Checkpoints are DCP shards (``runner.sharded``): every rank
writes its share and rank 0 commits the manifest last. Rank 0 chooses the checkpoint to resume (the others
restore that very step), writes the run log and the report; all ranks leave through a barrier, so none exits
before the last save is committed.
"""

from __future__ import annotations

import logging
import random
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from spotplan.errors import CheckpointError, ConfigError
from spotplan.runner import dist as rdist
from spotplan.runner.checkpoint import ForeignCheckpointError, remove_uncommitted
from spotplan.runner.corpus import DataPosition
from spotplan.runner.dist import World
from spotplan.runner.job import (
    GRAD_CLIP,
    Job,
    build_job,
    device_name,
    fits_one_device,
    model_config,
    resolve_device,
)
from spotplan.runner.model import VOCAB_SIZE
from spotplan.runner.policy import (
    ExitCode,
    IntervalUnit,
    emergency_save_fits,
    expected_save_s,
    interval_steps,
    should_checkpoint,
)
from spotplan.runner.progress import TrainProgress
from spotplan.runner.resume import restore_step, resume
from spotplan.runner.runlog import NullLog, RunLog, utc_iso
from spotplan.runner.signals import (
    DEFAULT_IMDS_ENDPOINT,
    ImdsPoller,
    Notice,
    NoticeFlag,
    install_signal_handlers,
)
from spotplan.runner.snapshot import Saver, SaveResult

if TYPE_CHECKING:
    from spotplan.runner.sharded import ShardedSaver
from spotplan.runner.state import capture
from spotplan.runner.storage import S3Storage, Storage, Uploader, UploadResult
from spotplan.schemas.events import EventKind
from spotplan.schemas.plan import Market, Plan
from spotplan.schemas.run_report import RunReport

log = logging.getLogger("spotplan.runner")

STEP_TIME_PROBE = 5  # steps timed before converting a seconds interval into steps


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """How to execute a plan on this machine."""

    plan: Plan
    checkpoint_dir: Path
    device: str | None = None
    model_size: str | None = None
    max_steps: int | None = None
    sync_save: bool = False
    interval_unit: IntervalUnit = IntervalUnit.STEPS
    seed: int = 0
    corpus_bytes: int = 8 << 20
    s3_url: str | None = None
    endpoint_url: str | None = None
    imds: bool | None = None  # None: poll when the plan's first rung is a spot pool
    imds_endpoint: str = DEFAULT_IMDS_ENDPOINT
    upload_drain_s: float = 60.0
    run_log: Path | None = None
    report: Path | None = None
    allow_nonfinite: bool = False  # load checkpoints whose weights hold NaN or inf (refused by default)
    parallel: str = "auto"  # under torchrun: ddp, fsdp, or auto (fsdp when the state does not fit one device)
    storage: Storage | None = field(default=None, compare=False)


@dataclass(slots=True)
class _Tally:
    saves: list[SaveResult] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    step_times_s: list[float] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed every global RNG a checkpoint saves (Python, numpy, torch CPU and CUDA) from the run's seed.

    The model and the data order use their own generators; this makes the saved RNG states, and so the
    checkpoint files, the same in every run of the same plan. A restore then overwrites them.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _resume(job: Job, root: Path, storage: Storage | None, log: RunLog | NullLog, world: World, *,
            check_finite: bool) -> tuple[int, DataPosition, str | None, float]:
    """Restore the newest valid checkpoint (local, else remote); return (step, position, source, seconds).

    Rank 0 decides; the other ranks restore the step it chose, or raise the error it met. A rank that cannot
    restore the chosen step (an FSDP rank checks only its own slices) stops every rank with its reason.
    """
    t0 = time.perf_counter()

    def warn(msg: str) -> None:
        log.emit(EventKind.RESTORE, ok=False, reason=msg)

    found, error = None, None
    if world.is_main:
        remove_uncommitted(root)
        try:
            found = resume(job, root, storage, warn, check_finite=check_finite)
        except CheckpointError as exc:
            error = exc
    decision = rdist.from_main(world, ("error", str(error)) if error else ("step", found.step if found else None,
                                                                             found.source if found else None))
    if error is not None:
        raise error
    if decision[0] == "error":
        raise CheckpointError(str(decision[1]))
    failed = None
    if not world.is_main and decision[1] is not None:
        try:
            found = restore_step(job, root, int(decision[1]), source=str(decision[2]), check_finite=check_finite)
        except CheckpointError as exc:  # e.g. NaN in this rank's own slices (FSDP): every rank must stop with it
            failed = f"rank {world.rank}: {exc}"
    failures = [f for f in rdist.gather_to_main(world, failed) or [] if f]
    failure = rdist.from_main(world, failures[0] if failures else None)
    if failure is not None:
        raise CheckpointError(str(failure))
    if found is None:
        return 0, DataPosition(), None, 0.0
    restore_s = time.perf_counter() - t0
    log.emit(EventKind.RESTORE, step=found.step, restore_s=restore_s, bytes=found.bytes, ok=True,
             source=found.source)
    return found.step, found.position, found.source, restore_s


SINGLE = World()


def prior_losses(report_path: Path, config_hash: str, start: int) -> tuple[int, list[float]]:
    """(step of the first loss, losses up to ``start``) from the report the previous invocation left.

    That report is read as untrusted input (schema-validated); it counts only when it is of this configuration
    and its losses run without a gap from its ``losses_from_step`` to its ``end_step`` and reach ``start``.
    Otherwise the curve starts at ``start + 1``.
    """
    if start == 0:
        return 1, []
    try:
        prev = RunReport.load(report_path)
    except ConfigError:
        return start + 1, []
    first, n = prev.losses_from_step, len(prev.losses)
    if prev.config_hash != config_hash or first + n - 1 != prev.end_step or not first <= start + 1 <= first + n:
        return start + 1, []
    return first, prev.losses[: start - first + 1]


def _train_step(job: Job, position: DataPosition, saver: Saver | ShardedSaver | None, world: World = SINGLE,
                module: torch.nn.Module | None = None) -> tuple[float, DataPosition]:
    """One optimizer step on the global batch; each rank computes its share of the rows. Returns the batch loss."""
    x, y, position = job.corpus.batch(position, job.cfg.batch_size)
    model, opt = job.train.model, job.train.optimizer
    if module is None:
        loss = job.model.loss(x.to(job.device), y.to(job.device))
    else:  # through DDP's forward, so that backward all-reduces the gradients
        x, y = x[world.rank :: world.size], y[world.rank :: world.size]
        logits = module(x.to(job.device))
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.to(job.device).reshape(-1))
        share = x.shape[0] * world.size / job.cfg.batch_size
        if share != 1.0:  # uneven split: DDP's mean over ranks of these is the global batch's mean
            loss = loss * share
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    if saver is not None:
        saver.fence()  # an async snapshot copies weights and moments while forward/backward only read them
    opt.step()
    job.train.scheduler.step()
    return rdist.mean_over_ranks(world, float(loss.item()), job.device), position


class _Runner:
    """State of one invocation; ``run()`` returns the report."""

    def __init__(self, opts: RunOptions, flag: NoticeFlag) -> None:
        self.opts = opts
        self.plan = opts.plan
        self.root = opts.checkpoint_dir
        self.flag = flag
        self.world = rdist.world_from_env()
        self.device = rdist.rank_device(self.world, resolve_device(opts.device))
        rdist.start(self.world, self.device)
        cfg = model_config(self.plan, opts.model_size)
        self.parallel = opts.parallel if opts.parallel != "auto" else (
            "fsdp" if self.world.distributed and not fits_one_device(cfg, self.device) else "ddp")
        if self.parallel == "fsdp" and not self.world.distributed:
            raise ConfigError("--parallel fsdp needs several processes; start it under torchrun")
        self.job = build_job(self.plan, model_size=opts.model_size, device=self.device, seed=opts.seed,
                             corpus_bytes=opts.corpus_bytes, shards=self.world.size if self.parallel == "fsdp" else 1)
        if self.job.cfg.batch_size < self.world.size:
            raise ConfigError(f"batch of {self.job.cfg.batch_size} sequences cannot give each of {self.world.size} "
                              "processes a row; use fewer processes")
        self.module: torch.nn.Module | None = None
        if self.parallel == "fsdp":  # the state sharded over the ranks (runner.fsdp): the model does not fit one
            from spotplan.runner.fsdp import shard

            self.job = shard(self.job)
            self.module = self.job.train.model
        elif self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.module = DistributedDataParallel(self.job.train.model, device_ids=ids)
        zone = self.plan.ladder[0].zone
        self.log: RunLog | NullLog = RunLog(
            opts.run_log or self.root / "run_log.jsonl", plan_instance_type=self.plan.ladder[0].instance_type,
            plan_zone=zone,
        ) if self.world.is_main else NullLog()
        self.storage = (opts.storage or (
            S3Storage(opts.s3_url, endpoint_url=opts.endpoint_url) if opts.s3_url else None
        )) if self.world.is_main else None  # rank 0 uploads what rank 0 commits
        self.uploader: Uploader | None = None
        self.tally = _Tally()
        self.step = 0  # the last completed training step
        self.prior: tuple[int, list[float]] = (1, [])  # earlier invocations' losses (see prior_losses)
        # one process: the Saver (snapshot, then a background persist of one safetensors file); under torchrun
        # the ShardedSaver (every rank writes its DCP shard, rank 0 commits): both at most one save in flight
        async_save = not opts.sync_save and self.plan.async_save
        self.saver: Saver | ShardedSaver
        if self.world.distributed:
            from spotplan.runner.sharded import ShardedSaver

            self.saver = ShardedSaver(self.root, rank=self.world.rank, keep_last_k=self.plan.keep_last_k,
                                      async_save=async_save, on_done=self._on_saved)
        else:
            self.saver = Saver(self.root, keep_last_k=self.plan.keep_last_k, async_save=async_save,
                               on_done=self._on_saved)

    def _on_saved(self, r: SaveResult) -> None:
        self.log.emit(EventKind.SAVE, step=r.step, kind=r.kind, blocking_s=r.blocking_s, persist_s=r.persist_s,
                      bytes=r.bytes, ok=r.ok, reason=r.error)
        if r.ok:
            self.tally.saves.append(r)
            if self.uploader is not None:
                self.uploader.submit(r.step)

    def _on_uploaded(self, r: UploadResult) -> None:
        self.log.emit(EventKind.UPLOAD, step=r.step, persist_s=r.upload_s, bytes=r.bytes, ok=r.ok,
                      reason=r.error)

    def _save(self, step: int, position: DataPosition, kind: str) -> None:
        tensors, state = capture(self.job.train, position=position)
        self.saver.save(step=step, kind=kind, tensors=tensors, state=state, config_hash=self.job.config_hash,
                        plan_id=self.plan.plan_id, config=self.job.config, world_size=self.world.size)

    def _handle_notice(self, notice: Notice, step: int, last_saved: int, position: DataPosition) -> str:
        """Emergency save if it fits before the deadline (rank 0 decides for all); returns the exit reason."""
        self.log.emit(EventKind.NOTICE, action=notice.action, time=utc_iso(notice.deadline_s),
                      source=notice.source, step=step, sync=True)
        last = self.saver.last
        need_s = expected_save_s(last.blocking_s if last else None, last.persist_s if last else None, self.plan)
        now = time.time()
        if step == last_saved:
            done = f"step {step} is already checkpointed" if step else "no training step ran yet"
            return f"notice from {notice.source}: {done}"
        fits = self.plan.notice.emergency_save and emergency_save_fits(
            now_s=now, deadline_s=notice.deadline_s, expected_s=need_s)
        if rdist.from_main(self.world, fits):
            self._save(step, position, "emergency")
            return f"notice from {notice.source}: emergency checkpoint at step {step}"
        left_s = notice.deadline_s - now
        return (f"notice from {notice.source}: an emergency save (~{need_s:.2f} s) would not finish in the "
                f"{left_s:.1f} s left; kept the checkpoint of step {last_saved}")

    def _start_threads(self) -> ImdsPoller | None:
        if self.storage is not None:
            self.uploader = Uploader(self.storage, self.root, keep_last_k=self.plan.keep_last_k,
                                     on_result=self._on_uploaded)
            self.uploader.start()
        poll = self.opts.imds if self.opts.imds is not None else self.plan.ladder[0].market is Market.SPOT
        if not poll or not self.world.is_node_main:  # one poller per node
            return None
        poller = ImdsPoller(self.flag, endpoint=self.opts.imds_endpoint, poll_s=self.plan.notice.imds_poll_s,
                            on_identity=self.log.set_machine)
        poller.start()
        return poller

    def _loop(self, step: int, position: DataPosition, last_end: int) -> tuple[int, ExitCode, str]:
        tokens = self.job.cfg.batch_size * self.job.cfg.seq_len
        with TrainProgress.for_terminal(is_main=self.world.is_main, tokens_per_step=tokens, end=last_end) as bar:
            return self._steps(step, position, last_end, bar)

    def _steps(self, step: int, position: DataPosition, last_end: int,
               bar: TrainProgress) -> tuple[int, ExitCode, str]:
        every: int | None = None
        if self.opts.interval_unit is IntervalUnit.STEPS:
            every = interval_steps(self.plan, IntervalUnit.STEPS)
        last_saved = step
        while True:
            if rdist.any_rank(self.world, self.flag.notice is not None, self.device) and self.flag.notice is None:
                now = time.time()  # another rank was told: stop at this same step with it
                self.flag.set(Notice(source="peer", action="terminate", deadline_s=now + self.plan.notice.notice_s,
                                     received_s=now))
            notice = self.flag.notice
            if notice is not None:
                return step, ExitCode.PREEMPTED, self._handle_notice(notice, step, last_saved, position)
            if step >= last_end:
                if last_saved != step:
                    self._save(step, position, "final")
                return step, ExitCode.COMPLETED, f"reached step {step}"
            t0 = time.perf_counter()
            loss, position = _train_step(self.job, position, self.saver, self.world, self.module)
            self.tally.step_times_s.append(time.perf_counter() - t0)
            self.tally.losses.append(loss)
            step += 1
            self.step = step
            if every is None and len(self.tally.step_times_s) > STEP_TIME_PROBE:
                measured = statistics.median(self.tally.step_times_s[1:])  # the first step warms caches
                every = int(rdist.from_main(self.world, interval_steps(self.plan, IntervalUnit.SECONDS, measured)))
            if every is not None and should_checkpoint(step, last_saved, every):
                self._save(step, position, "periodic")
                last_saved = step
            bar.update(step=step, loss=loss, step_s=self.tally.step_times_s[-1],
                       next_save_in=every - (step - last_saved) if every else None)

    def run(self) -> RunReport:
        self.log.emit(EventKind.START, step=None)
        seed_everything(self.opts.seed)
        try:
            start, position, source, restore_s = _resume(self.job, self.root, self.storage, self.log, self.world,
                                                         check_finite=not self.opts.allow_nonfinite)
        except CheckpointError as exc:  # said in the log (and the report), for `spotplan launch` and for people
            self.log.emit(EventKind.EXIT, step=0, exit_code=int(ExitCode.USER_ERROR), reason=str(exc), sync=True)
            if not isinstance(exc, ForeignCheckpointError):  # that directory's report is another run's: keep it
                self._report_failure(0, 0, None, 0.0, str(exc))
            raise
        self.prior = prior_losses(self.opts.report or self.root / "run_report.json", self.job.config_hash, start) \
            if self.world.is_main else (start + 1, [])
        poller = self._start_threads()
        end = self.job.total_steps if self.opts.max_steps is None else min(self.opts.max_steps, self.job.total_steps)
        code, reason, step = ExitCode.FAILED, "failed", start
        self.step = start
        try:
            step, code, reason = self._loop(start, position, max(end, start))
            self.saver.close()
            if self.uploader is not None and not self.uploader.drain(self._drain_budget_s()):
                reason += f"; upload to {self.storage.describe() if self.storage else ''} not finished"
        except CheckpointError as exc:
            code, reason, step = ExitCode.USER_ERROR, str(exc), self.step
            self._report_failure(start, step, source, restore_s, reason)
            raise
        except Exception as exc:  # a crash or a lost peer: logged as such (exit 1), then the traceback
            step, reason = self.step, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            raise
        finally:
            if poller is not None:
                poller.stop()
            if self.uploader is not None:
                self.uploader.stop()
            self.log.emit(EventKind.EXIT, step=step, exit_code=int(code), reason=reason, sync=True)
        return self._report(start, step, source, restore_s, code, reason)

    def _report_failure(self, start: int, step: int, source: str | None, restore_s: float, reason: str) -> None:
        """A failed save (disk full, ...) still leaves a report saying how far training got and what is on disk."""
        if not self.world.is_main:
            return
        try:
            self._report(start, step, source, restore_s, ExitCode.USER_ERROR, reason)
        except (OSError, ValueError) as exc:  # the disk may be too full even for the report: say so, keep the cause
            log.warning("could not write the run report: %s", exc)

    def _drain_budget_s(self) -> float:
        notice = self.flag.notice
        if notice is None:
            return self.opts.upload_drain_s
        return max(0.0, min(self.opts.upload_drain_s, notice.deadline_s - time.time()))

    def _report(self, start: int, end: int, source: str | None, restore_s: float, code: ExitCode,
                reason: str) -> RunReport:
        saves = self.tally.saves
        tensors, _ = capture(self.job.train, position=DataPosition())
        notice = self.flag.notice
        report = RunReport(
            created_utc=utc_iso(), plan_id=self.plan.plan_id, config_hash=self.job.config_hash,
            device=device_name(self.device), model_size=self.opts.model_size or "plan",
            n_params=sum(p.numel() for p in self.job.model.parameters()),
            state_bytes=sum(t.numel() * t.element_size() for t in tensors.values()), seed=self.opts.seed,
            checkpoint_dir=str(self.root), interval_steps=self._interval_used(),
            async_save=self.saver.async_save, start_step=start, end_step=end, restored_from=source,
            restore_s=restore_s if source else None, saves=len(saves),
            save_blocking_s_mean=statistics.fmean(r.blocking_s for r in saves) if saves else None,
            save_persist_s_mean=statistics.fmean(r.persist_s or 0.0 for r in saves) if saves else None,
            step_time_s_median=statistics.median(self.tally.step_times_s) if self.tally.step_times_s else None,
            last_committed_step=max((r.step for r in saves), default=start if source else None),
            notice_source=notice.source if notice else None, exit_code=int(code), exit_reason=reason,
            losses=[*self.prior[1], *self.tally.losses], losses_from_step=self.prior[0],
        )
        if self.world.is_main:
            report.dump(self.opts.report or self.root / "run_report.json")
        return report

    def _interval_used(self) -> int:
        if self.opts.interval_unit is IntervalUnit.STEPS or len(self.tally.step_times_s) <= STEP_TIME_PROBE:
            return self.plan.checkpoint_interval_steps
        return interval_steps(self.plan, IntervalUnit.SECONDS, statistics.median(self.tally.step_times_s[1:]))


def run(opts: RunOptions) -> RunReport:
    """Execute ``opts.plan``; the report's ``exit_code`` is the process exit code (``policy.ExitCode``).

    The SIGTERM/SIGINT handlers are installed first, before the job is built and the checkpoint restored (which
    can take minutes for a large state): a notice during start-up is handled at the first step boundary.
    """
    flag = NoticeFlag()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    install_signal_handlers(flag, notice_s=opts.plan.notice.notice_s)
    world, clean = rdist.world_from_env(), False
    try:
        report = _Runner(opts, flag).run()
        clean = True
        return report
    finally:
        # a clean end leaves through a barrier (no rank exits before rank 0's last save is committed); a failure
        # tears the group down at once, so the other ranks' pending collectives fail instead of waiting
        rdist.stop(world, clean=clean)
        for s, h in handlers.items():
            signal.signal(s, h)
        if world.distributed:
            # torchrun SIGTERMs the ranks still alive as soon as one exits non-zero (75): a rank that is done
            # must not die of that on its way out, so that every rank reports its own exit code
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
