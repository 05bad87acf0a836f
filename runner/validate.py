"""Does a loaded checkpoint fit the live training state? Checked before anything is restored into it.

A checkpoint that passed its checksums can still be hostile or wrong: a crafted file carries a valid checksum of
its own bytes. So every state field is typed and range-checked (integer data positions inside the dataset, finite
learning rates and counters, well-formed RNG states) and every tensor must have the name, dtype and shape the live
model and optimizer expect and, unless the caller allows it, finite values. Pure logic: no I/O. Each failure is a
``CheckpointError`` naming the field, the value and what was expected, so the loader falls back to an older step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import torch

from spotplan.errors import CheckpointError
from spotplan.runner.checkpoint import Checkpoint
from spotplan.runner.state import TrainState

MAX_EPOCH = 1 << 40  # a corpus pass per second for 35,000 years
ADAM_KEYS = frozenset({"step", "exp_avg", "exp_avg_sq"})
MT_WORDS = 624  # Mersenne Twister state size (Python's random and numpy's MT19937)
MAX_CUDA_RNG_STATES = 1024
_OPTIM = re.compile(r"^optim/(\d{1,9})/(\w+)$")
_CUDA_RNG = re.compile(r"^rng/cuda/(\d{1,4})$")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    dtype: torch.dtype
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """What a checkpoint of this job must contain, taken from the live objects before the restore."""

    model: dict[str, TensorSpec]
    params: dict[int, TensorSpec]  # optimizer parameter id -> its parameter (the moments have its dtype and shape)
    param_groups: list[dict[str, Any]]
    scheduler_keys: frozenset[str]
    torch_rng: TensorSpec
    n_windows: int
    total_steps: int


def expectation(ts: TrainState, *, n_windows: int, total_steps: int) -> Expectation:
    """The expectation for checkpoints of ``ts`` (a model, AdamW and a LambdaLR scheduler)."""
    model = {f"model/{k}": TensorSpec(v.dtype, tuple(v.shape)) for k, v in ts.model.state_dict().items()}
    groups = ts.optimizer.state_dict()["param_groups"]
    flat = [p for g in ts.optimizer.param_groups for p in g["params"]]
    ids = [i for g in groups for i in g["params"]]
    params = {i: TensorSpec(p.dtype, tuple(p.shape)) for i, p in zip(ids, flat, strict=True)}
    rng = torch.get_rng_state()
    return Expectation(model=model, params=params, param_groups=groups,
                       scheduler_keys=frozenset(ts.scheduler.state_dict()), torch_rng=TensorSpec(rng.dtype,
                       tuple(rng.shape)), n_windows=n_windows, total_steps=total_steps)


def _fail(field: str, value: Any, expected: str) -> CheckpointError:
    shown = repr(value)
    return CheckpointError(f"field '{field}' = {shown[:60]}{'...' if len(shown) > 60 else ''}: expected {expected}")


def _is_int(x: Any) -> bool:
    return type(x) is int


def _finite(x: Any) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _int_in(field: str, x: Any, lo: int, hi: int) -> int:
    if not _is_int(x) or not lo <= x <= hi:
        raise _fail(field, x, f"an integer in [{lo}, {hi}]")
    return int(x)


def _number_in(field: str, x: Any, lo: float, hi: float = math.inf) -> float:
    if not _finite(x) or not lo <= x <= hi:
        raise _fail(field, x, f"a finite number in [{lo}, {hi}]")
    return float(x)


def _mapping(field: str, x: Any) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise _fail(field, x, "an object")
    return x


def _check_position(state: dict[str, Any], exp: Expectation) -> None:
    pos = _mapping("data_position", state.get("data_position"))
    if set(pos) != {"epoch", "index"}:
        raise _fail("data_position", sorted(pos), "the keys epoch and index")
    _int_in("data_position.epoch", pos["epoch"], 0, MAX_EPOCH)
    _int_in("data_position.index", pos["index"], 0, exp.n_windows - 1)


def _check_optimizer(state: dict[str, Any], exp: Expectation) -> None:
    opt = _mapping("optimizer", state.get("optimizer"))
    groups = opt.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(exp.param_groups):
        raise _fail("optimizer.param_groups", groups, f"a list of {len(exp.param_groups)} groups")
    for i, (got, live) in enumerate(zip(groups, exp.param_groups, strict=True)):
        where = f"optimizer.param_groups.{i}"
        got = _mapping(where, got)
        if set(got) != set(live):
            raise _fail(where, sorted(got), f"the keys {sorted(live)}")
        if got["params"] != live["params"]:
            raise _fail(f"{where}.params", got["params"], "the live optimizer's parameter ids")
        for key, value in got.items():
            ref = live[key]
            if key == "params":
                continue
            if key == "betas":
                if not isinstance(value, list) or len(value) != 2:
                    raise _fail(f"{where}.betas", value, "two numbers in [0, 1)")
                for b in value:
                    _number_in(f"{where}.betas", b, 0.0, math.nextafter(1.0, 0.0))
            elif type(ref) is float or key in ("lr", "initial_lr", "eps", "weight_decay"):
                _number_in(f"{where}.{key}", value, 0.0)
            elif value != ref or type(value) is not type(ref):
                raise _fail(f"{where}.{key}", value, f"{ref!r} (as this run's optimizer)")
    scalars = _mapping("optimizer.scalars", opt.get("scalars"))
    if scalars:  # AdamW keeps every per-parameter value as a tensor
        raise _fail("optimizer.scalars", sorted(scalars)[:3], "no per-parameter scalars (AdamW keeps tensors)")


def _check_scheduler(state: dict[str, Any], exp: Expectation, step: int) -> None:
    sched = _mapping("scheduler", state.get("scheduler"))
    if set(sched) != exp.scheduler_keys:
        raise _fail("scheduler", sorted(sched), f"the keys {sorted(exp.scheduler_keys)}")
    n = len(exp.param_groups)
    if sched["last_epoch"] != step or not _is_int(sched["last_epoch"]):
        raise _fail("scheduler.last_epoch", sched["last_epoch"], f"the checkpoint's step {step}")
    _int_in("scheduler._step_count", sched.get("_step_count"), 0, exp.total_steps + 1)
    for key in ("base_lrs", "_last_lr"):
        values = sched.get(key)
        if not isinstance(values, list) or len(values) != n:
            raise _fail(f"scheduler.{key}", values, f"a list of {n} learning rates")
        for v in values:
            _number_in(f"scheduler.{key}", v, 0.0)
    if sched.get("lr_lambdas") != [None] * n:  # a dict here would be written into the lambda's __dict__
        raise _fail("scheduler.lr_lambdas", sched.get("lr_lambdas"), f"{[None] * n} (plain function lambdas)")


def _check_rng(state: dict[str, Any]) -> None:
    rng = _mapping("rng", state.get("rng"))
    py = rng.get("python")
    if not isinstance(py, list) or len(py) != 3 or py[0] != 3 or not isinstance(py[1], list):
        raise _fail("rng.python", str(py)[:40], "[3, <625 integers>, gauss]")
    words = py[1]
    if len(words) != MT_WORDS + 1 or not all(_is_int(w) and 0 <= w < 1 << 32 for w in words[:-1]):
        raise _fail("rng.python.1", f"<{len(words)} values>", f"{MT_WORDS} 32-bit words and a position")
    _int_in("rng.python.1[-1]", words[-1], 1, MT_WORDS)
    if py[2] is not None:
        _number_in("rng.python.2", py[2], -math.inf)
    np_state = rng.get("numpy")
    if not isinstance(np_state, list) or len(np_state) != 4 or np_state[0] != "MT19937":
        raise _fail("rng.numpy", np_state, '["MT19937", pos, has_gauss, gauss]')
    _int_in("rng.numpy.1", np_state[1], 0, MT_WORDS)
    _int_in("rng.numpy.2", np_state[2], 0, 1)
    _number_in("rng.numpy.3", np_state[3], -math.inf)


def _check_tensor(name: str, t: torch.Tensor, spec: TensorSpec, check_finite: bool) -> None:
    if t.dtype != spec.dtype or tuple(t.shape) != spec.shape:
        raise CheckpointError(f"tensor {name!r}: {t.dtype} {list(t.shape)}, expected {spec.dtype} {list(spec.shape)}")
    local = t.to_local() if type(t).__name__ == "DTensor" else t  # type: ignore[attr-defined]  # no collective
    if check_finite and t.is_floating_point() and not bool(torch.isfinite(local).all()):
        raise CheckpointError(f"tensor {name!r}: holds NaN or infinite values (pass --allow-nonfinite to load it)")


def _check_tensors(ckpt: Checkpoint, exp: Expectation, check_finite: bool) -> None:
    tensors = ckpt.tensors
    missing = sorted(set(exp.model) - set(tensors))
    if missing:
        raise CheckpointError(f"tensor {missing[0]!r} missing ({len(missing)} model tensors in all)")
    per_param: dict[int, set[str]] = {}
    for name, t in tensors.items():
        if name in exp.model:
            _check_tensor(name, t, exp.model[name], check_finite)
        elif m := _OPTIM.match(name):
            pid, key = int(m.group(1)), m.group(2)
            if pid not in exp.params or key not in ADAM_KEYS:
                raise CheckpointError(f"tensor {name!r}: not a parameter's AdamW state in this optimizer")
            spec = TensorSpec(torch.float32, ()) if key == "step" else exp.params[pid]
            _check_tensor(name, t, spec, check_finite)
            if key == "step" and not 0 <= float(t) <= ckpt.step:
                raise CheckpointError(f"tensor {name!r} = {float(t)}: expected a step count in [0, {ckpt.step}]")
            per_param.setdefault(pid, set()).add(key)
        elif name == "rng/torch_cpu":
            _check_tensor(name, t, exp.torch_rng, False)
        elif name == "rng/numpy_key":
            _check_tensor(name, t, TensorSpec(torch.int64, (MT_WORDS,)), False)
            if int(t.min()) < 0 or int(t.max()) >= 1 << 32:
                raise CheckpointError(f"tensor {name!r}: values outside 32-bit words")
        elif (m := _CUDA_RNG.match(name)) and int(m.group(1)) < MAX_CUDA_RNG_STATES:
            if t.dtype != torch.uint8 or t.dim() != 1:
                raise CheckpointError(f"tensor {name!r}: {t.dtype} {list(t.shape)}, expected a uint8 vector")
        else:
            raise CheckpointError(f"tensor {name!r}: not part of this job's state")
    for required in ("rng/torch_cpu", "rng/numpy_key"):
        if required not in tensors:
            raise CheckpointError(f"tensor {required!r} missing")
    partial = {pid: keys for pid, keys in per_param.items() if keys != ADAM_KEYS}
    if partial:
        pid, keys = next(iter(partial.items()))
        raise CheckpointError(f"optimizer state of parameter {pid} has {sorted(keys)}, expected {sorted(ADAM_KEYS)}")


def check(ckpt: Checkpoint, exp: Expectation, *, check_finite: bool = True) -> None:
    """Raise CheckpointError unless ``ckpt`` fits ``exp`` in every field and tensor."""
    if not 0 <= ckpt.step <= exp.total_steps:
        raise _fail("step", ckpt.step, f"a step in [0, {exp.total_steps}] (the job's length)")
    state = ckpt.state
    _check_position(state, exp)
    _check_optimizer(state, exp)
    _check_scheduler(state, exp, ckpt.step)
    _check_rng(state)
    _check_tensors(ckpt, exp, check_finite)
