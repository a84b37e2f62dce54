"""Exact weight bytes from safetensors headers, wherever the bytes come from.

A safetensors file starts with 8 bytes of little-endian header length, then that many
bytes of JSON naming every tensor's dtype, shape and byte range; the weights follow.  So
the parameter count and the tensor bytes of a checkpoint are known from its headers
alone: a few KB per shard, never the weights.  A sharded checkpoint also writes
model.safetensors.index.json, whose `metadata.total_size` is the tensor bytes of all
shards (transformers' save_pretrained sums each tensor's bytes into it) and whose
`weight_map` names the shards.

The same strict reading serves a local folder, the Hugging Face cache and the Hub (where
the header bytes arrive by HTTP range requests, kvcalc/importers/hub.py).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import SpecError, UsageError
from kvcalc.limits import (
    MAX_SAFETENSORS_FILES,
    MAX_SAFETENSORS_HEADER,
    MAX_SAFETENSORS_HEADERS,
    MAX_TENSOR_DIMS,
    MAX_TEXT_FILE_BYTES,
)

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


@dataclass(frozen=True, slots=True)
class Weights:
    """What a checkpoint's files say about its weights."""

    params: int | None
    """Parameters, summed from the headers; None when only the index was read."""
    nbytes: int | None
    """Tensor bytes: summed from the headers, or the index's metadata.total_size."""
    how: str
    """Where they come from, for the spec's sources ('2 safetensors headers')."""


class Budget:
    """Header bytes read so far for one checkpoint, against MAX_SAFETENSORS_HEADERS."""

    def __init__(self) -> None:
        self.used = 0

    def length(self, head: bytes, origin: str) -> int:
        """The header length the first 8 bytes declare, checked against both limits."""
        if len(head) != 8:
            raise SpecError(f"{origin}: too short for a safetensors header")
        (length,) = struct.unpack("<Q", head)
        self.used += length
        if length > MAX_SAFETENSORS_HEADER or self.used > MAX_SAFETENSORS_HEADERS:
            raise SpecError(
                f"{origin}: safetensors header of {length:,} bytes is too large (limit "
                f"{MAX_SAFETENSORS_HEADER:,} per file, {MAX_SAFETENSORS_HEADERS:,} in all)"
            )
        return int(length)


def header_totals(raw: bytes, origin: str) -> tuple[int, int]:
    """(parameters, bytes) of one safetensors header; every field checked, none trusted."""
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SpecError(f"{origin}: unreadable safetensors header ({exc})") from None
    if not isinstance(header, dict):
        raise SpecError(f"{origin}: unreadable safetensors header (not a JSON object)")
    params = nbytes = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        where = f"{origin}: tensor {name[:80]!r}"
        if not isinstance(tensor, dict):
            raise SpecError(f"{where}: expected an object with dtype, shape and data_offsets")
        shape, offsets = tensor.get("shape"), tensor.get("data_offsets")
        if not isinstance(shape, list) or len(shape) > MAX_TENSOR_DIMS:
            raise SpecError(f"{where}: shape must be a list of at most {MAX_TENSOR_DIMS} sizes")
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise SpecError(f"{where}: data_offsets must be [start, end]")
        count = 1
        for dim in shape:
            if not _is_int(dim) or not 0 <= dim < 2**63:
                raise SpecError(f"{where}: shape entry {dim!r} is not a size")
            count *= dim
        start, end = offsets
        if not (_is_int(start) and _is_int(end) and 0 <= start <= end < 2**64):
            raise SpecError(f"{where}: data_offsets {offsets!r} are not a byte range")
        params += count
        nbytes += end - start
    return params, nbytes


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_index(raw: bytes, origin: str) -> tuple[int | None, list[str]]:
    """(metadata.total_size, the shard file names in order) of an index file.

    A shard name is a plain file name ending in .safetensors: never a path, so a hostile
    index cannot send a read (or a Hub request) anywhere but beside it.
    """
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SpecError(f"{origin}: not valid JSON ({str(exc).split(';')[0]})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: expected a JSON object, got {type(data).__name__}")
    meta = data.get("metadata")
    total = meta.get("total_size") if isinstance(meta, dict) else None
    if total is not None and (not _is_int(total) or total <= 0):
        raise SpecError(f"{origin}: metadata.total_size must be a positive whole number of bytes")
    weight_map = data.get("weight_map")
    if not isinstance(weight_map, dict):
        raise SpecError(f"{origin}: weight_map must be an object of tensor -> shard file")
    shards = sorted(set(weight_map.values()), key=str)
    for shard in shards:
        if not _plain_shard(shard):
            raise SpecError(f"{origin}: weight_map names {str(shard)[:80]!r}, not a shard file")
    if len(shards) > MAX_SAFETENSORS_FILES:
        raise SpecError(f"{origin}: more than {MAX_SAFETENSORS_FILES:,} shards")
    return total, shards


def _plain_shard(name: object) -> bool:
    return (
        isinstance(name, str)
        and name.endswith(".safetensors")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )


def safetensors_files(directory: Path) -> list[Path]:
    """The *.safetensors names in a directory, sorted; at most MAX_SAFETENSORS_FILES."""
    names: list[str] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".safetensors"):
                    names.append(entry.name)
                    if len(names) > MAX_SAFETENSORS_FILES:
                        raise SpecError(
                            f"{directory}: more than {MAX_SAFETENSORS_FILES:,} *.safetensors "
                            "files (a real checkpoint has at most a few hundred shards)"
                        )
    except OSError as exc:
        raise UsageError(f"{directory}: cannot list ({files.reason(exc)})") from None
    return [directory / name for name in sorted(names)]


def file_totals(paths: list[Path]) -> tuple[int, int]:
    """(parameters, bytes) summed over local safetensors files, reading only the headers."""
    params = nbytes = 0
    budget = Budget()
    for path in paths:
        with files.open_regular(path, "a safetensors file") as handle:
            try:
                length = budget.length(handle.read(8), str(path))
                raw = handle.read(length)
            except OSError as exc:
                raise UsageError(f"{path}: cannot read ({files.reason(exc)})") from None
        if len(raw) != length:
            raise SpecError(f"{path}: safetensors header cut short ({len(raw):,} of {length:,})")
        tensors, size = header_totals(raw, str(path))
        params += tensors
        nbytes += size
    return params, nbytes


def local_weights(directory: Path) -> Weights | None:
    """The weights of the checkpoint in `directory`, or None when it holds no sign of one.

    With an index: every shard it names, when all are there; otherwise its total_size
    (a half-downloaded checkpoint must not be summed as if it were whole).  Without one:
    every *.safetensors file in the folder.
    """
    index_path = directory / INDEX
    if files.kind(index_path) != "missing":
        raw = files.read_bounded(index_path, MAX_TEXT_FILE_BYTES, "a safetensors index")
        total, shards = read_index(raw, str(index_path))
        paths = [directory / shard for shard in shards]
        if shards and all(files.kind(path) != "missing" for path in paths):
            params, nbytes = file_totals(paths)
            return Weights(params, nbytes, f"{len(paths)} safetensors headers")
        if total is not None:
            return Weights(None, total, f"{INDEX} metadata.total_size")
        return None
    paths = safetensors_files(directory)
    if not paths:
        return None
    params, nbytes = file_totals(paths)
    return Weights(params, nbytes, f"{len(paths)} safetensors header{'s' * (len(paths) > 1)}")
