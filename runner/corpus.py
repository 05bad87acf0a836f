"""The training corpus: the Python standard library's own ``.py`` sources, read as bytes (vocabulary 256).

Needs no download. Batches come from a per-epoch permutation of fixed windows, drawn from an explicit
``numpy.random.Generator`` seeded by (seed, epoch), so the data position is two integers (epoch, index) and a
resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spotplan.errors import ConfigError

DEFAULT_MAX_BYTES = 8 << 20  # 8 MiB of source text is plenty for the sizes the runner trains on CPU


@dataclass(frozen=True, slots=True, kw_only=True)
class DataPosition:
    """Where the loader is: ``index`` windows of epoch ``epoch`` have been consumed."""

    epoch: int = 0
    index: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}


def stdlib_files(root: Path | None = None) -> list[Path]:
    """Sorted ``.py`` files of the standard library (site-packages excluded), for a stable order."""
    base = Path(root or sysconfig.get_paths()["stdlib"])
    files = [p for p in base.rglob("*.py") if "site-packages" not in p.parts and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(base).as_posix())


def load_stdlib_bytes(max_bytes: int = DEFAULT_MAX_BYTES, root: Path | None = None) -> bytes:
    """Concatenate stdlib sources in path order up to ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    for path in stdlib_files(root):
        data = path.read_bytes()
        chunks.append(data[: max_bytes - total])
        total += len(chunks[-1])
        if total >= max_bytes:
            break
    text = b"".join(chunks)
    if not text:
        raise ConfigError(f"{root or sysconfig.get_paths()['stdlib']}: no Python sources found for the corpus")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Corpus:
    """Byte tokens cut into ``n_windows`` windows of ``seq_len + 1`` bytes; batches by seeded permutation."""

    data: bytes = field(repr=False)
    seq_len: int
    seed: int
    digest: str = field(init=False)
    _tokens: torch.Tensor = field(init=False, repr=False)
    _orders: dict[int, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.data) < 2 * (self.seq_len + 1):
            raise ConfigError(f"corpus of {len(self.data)} bytes is too short for seq_len={self.seq_len}")
        object.__setattr__(self, "digest", hashlib.sha256(self.data).hexdigest())
        object.__setattr__(self, "_tokens", torch.frombuffer(bytearray(self.data), dtype=torch.uint8))
        object.__setattr__(self, "_orders", {})

    @property
    def n_windows(self) -> int:
        return (len(self.data) - 1) // self.seq_len - 1

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:  # one permutation per epoch, kept only for the current epoch
            self._orders.clear()
            self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
        return self._orders[epoch]

    def batch(self, pos: DataPosition, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, DataPosition]:
        """Inputs and next-byte targets (int64, shape (batch, seq_len)) and the position after them."""
        starts: list[int] = []
        epoch, index = pos.epoch, pos.index
        while len(starts) < batch_size:
            order = self._order(epoch)
            take = order[index : index + batch_size - len(starts)]
            starts.extend(int(w) * self.seq_len for w in take)
            index += len(take)
            if index >= self.n_windows:
                epoch, index = epoch + 1, 0
        rows = torch.stack([self._tokens[s : s + self.seq_len + 1] for s in starts]).long()
        return rows[:, :-1], rows[:, 1:], DataPosition(epoch=epoch, index=index)
