"""The safetensors file format, written and read without copies and without pickle.

Layout: 8-byte little-endian header length N, N bytes of JSON header (``name -> {dtype, shape, data_offsets}``,
plus ``__metadata__``), then the raw little-endian tensor bytes. The reader is strict because a checkpoint is
untrusted input: the header is size- and depth-bounded, every entry must have a known dtype, a non-negative
integer shape (at most 16 dimensions) whose byte size matches its offsets, offsets inside the file, and the
entries must tile the data region exactly (no gaps, overlaps or trailing bytes). Tensors are ``torch.frombuffer``
views into the caller's buffer, so loading costs one read and no parse copy.

Why not the ``safetensors`` package's reader: ``safetensors.torch.load(bytes)`` copies every tensor out of the
buffer (a second copy of a checkpoint that can be 100 GB), and ``safe_open`` maps the file by path, so the bytes it
parses are not the bytes the loader checksummed (a file replaced in between would be parsed unverified). The
package is kept as a test dependency and oracle: ``tests/runner/test_checkpoint.py`` checks that whatever this
reader accepts, the reference parser accepts with equal tensors, and that its files are read by the reference.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import torch

from spotplan.errors import CheckpointError
from spotplan.runner.fsio import loads_bounded

DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
_BY_CODE = {code: dtype for dtype, code in DTYPES.items()}
MAX_HEADER_BYTES = 100 << 20
MAX_HEADER_DEPTH = 3  # {name: {"shape": [...]}}
MAX_NDIM = 16


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    """Raw bytes of a contiguous CPU tensor, without a copy."""
    flat = t.detach().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else memoryview(b"")


def encode(tensors: dict[str, torch.Tensor]) -> list[memoryview | bytes]:
    """Header and data buffers of a safetensors file holding ``tensors`` (sorted by name)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    # widest dtypes first (as the reference writer does): with the 8-byte-padded header every tensor then starts
    # at an offset aligned to its element size, so the reader's zero-copy views are aligned
    names = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    for name in names:
        t = tensors[name]
        if t.device.type != "cpu" or not t.is_contiguous() or t.dtype not in DTYPES:
            raise CheckpointError(f"tensor {name!r}: expected a contiguous CPU tensor of a supported dtype")
        size = t.numel() * t.element_size()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # safetensors pads the header to 8-byte alignment
    return [struct.pack("<Q", len(head)) + head, *(_tensor_bytes(tensors[n]) for n in names)]


def _entry(name: str, spec: Any) -> tuple[torch.dtype, list[int], int, int]:
    ok = isinstance(spec, dict) and set(spec) == {"dtype", "shape", "data_offsets"}
    dtype = _BY_CODE.get(spec.get("dtype")) if ok else None
    shape, offs = (spec.get("shape"), spec.get("data_offsets")) if ok else (None, None)
    valid = (
        dtype is not None and isinstance(shape, list) and isinstance(offs, list) and len(offs) == 2
        and len(shape) <= MAX_NDIM and all(type(d) is int and d >= 0 for d in shape) and all(type(o) is int and o >= 0 for o in offs)
    )
    if not valid:
        raise CheckpointError(f"tensor {name!r}: malformed safetensors header entry")
    assert dtype is not None and isinstance(shape, list) and isinstance(offs, list)
    if offs[1] - offs[0] != math.prod(shape) * dtype.itemsize:
        raise CheckpointError(f"tensor {name!r}: data_offsets do not match shape {shape} of {dtype}")
    return dtype, shape, offs[0], offs[1]


def decode(buf: bytearray) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file held in ``buf`` (zero-copy views); CheckpointError if anything is off."""
    if len(buf) < 8:
        raise CheckpointError("file shorter than the 8-byte safetensors header length")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > min(MAX_HEADER_BYTES, len(buf) - 8):
        raise CheckpointError(f"safetensors header length {n} exceeds the file")
    try:
        header = loads_bounded(memoryview(buf)[8 : 8 + n], "safetensors header", max_bytes=MAX_HEADER_BYTES,
                               max_depth=MAX_HEADER_DEPTH)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(header, dict):
        raise CheckpointError("safetensors header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError("safetensors __metadata__ must map strings to strings")
    parsed = [(name, _entry(name, spec)) for name, spec in header.items()]
    entries = sorted((start, end, name, dtype, shape) for name, (dtype, shape, start, end) in parsed)
    base, expect = 8 + n, 0
    tensors: dict[str, torch.Tensor] = {}
    for start, end, name, dtype, shape in entries:
        if start != expect:
            raise CheckpointError(f"tensor {name!r}: data region has a gap or overlap at byte {start}")
        if base + end > len(buf):
            raise CheckpointError(f"tensor {name!r}: data_offsets end at byte {end}, past the end of the file")
        expect = end
        count = math.prod(shape)
        t = torch.frombuffer(buf, dtype=dtype, count=count, offset=base + start) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(shape)
    if base + expect != len(buf):
        raise CheckpointError(f"{len(buf) - base - expect} bytes after the last tensor")
    return tensors
