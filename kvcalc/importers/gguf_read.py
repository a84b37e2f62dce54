"""GGUF metadata and tensor table, read by kvcalc itself: bounded, typed and linear.

Why not the gguf package's GGUFReader: it builds numpy views for every element of every
array, so a real Llama 3 GGUF (128,256 vocabulary strings and 280,000 merges) took about
20 s to open here, and it believes declared lengths (an array claiming 2^40 elements made
it loop or allocate for minutes).  This reader walks the file once through mmap, skips
the tokenizer.* arrays without building them, keeps each value's GGUF type (so an integer
field can refuse a float), and refuses any length that runs past the end of the file or
past limits.py before acting on it.

Layout (ggml-org/ggml docs/gguf.md): 'GGUF', u32 version (2 or 3), u64 tensor count,
u64 metadata count; each metadata entry is a string key, a u32 value type and the value;
each tensor a string name, u32 n_dims, n_dims x u64 sizes, u32 ggml type, u64 offset.
A string is a u64 byte length and UTF-8 bytes; an array a u32 element type, a u64 count
and the elements.  Little-endian, or big-endian when the version reads byte-swapped.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import SpecError
from kvcalc.importers.gguf_layout import Tensor
from kvcalc.limits import (
    MAX_GGUF_ARRAY_DEPTH,
    MAX_GGUF_KEYS,
    MAX_GGUF_STRING,
    MAX_GGUF_TENSORS,
    MAX_LAYERS,
)

# value type -> (name, struct format); 8 is a string, 9 an array
_SCALARS = {
    0: ("UINT8", "B"),
    1: ("INT8", "b"),
    2: ("UINT16", "H"),
    3: ("INT16", "h"),
    4: ("UINT32", "I"),
    5: ("INT32", "i"),
    6: ("FLOAT32", "f"),
    7: ("BOOL", "?"),
    10: ("UINT64", "Q"),
    11: ("INT64", "q"),
    12: ("FLOAT64", "d"),
}
STRING, ARRAY = 8, 9
INTEGER_TYPES = frozenset(
    {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "UINT64", "INT64"}
)
_SKIPPED_PREFIX = "tokenizer."  # vocabulary and merges: hundreds of thousands of strings
_MAX_TENSOR_DIMS = 8  # ggml has 4 (GGML_MAX_DIMS); a little room, no more


@dataclass(frozen=True, slots=True)
class Value:
    """One metadata value with its GGUF type; `value` is None for what was skipped."""

    type: str
    """'UINT32', 'FLOAT32', 'STRING', 'ARRAY', ..."""
    value: Any
    item: str = ""
    """An array's element type."""
    count: int = 0
    """An array's length."""

    def describe(self) -> str:
        """'FLOAT32 4.7', "STRING 'four'", 'ARRAY of 3 INT32': for error lines."""
        if self.type == "ARRAY":
            return f"ARRAY of {self.count:,} {self.item}"
        shown = repr(self.value)
        return f"{self.type} {shown if len(shown) <= 40 else shown[:37] + '...'}"


class _Cursor:
    """Position in the mapped file; every length is checked against the end first."""

    def __init__(self, data: mmap.mmap, path: Path, endian: str) -> None:
        self.data, self.path, self.at, self.size = data, path, 0, len(data)
        self.endian = endian
        self._u32 = struct.Struct(endian + "I")
        self._u64 = struct.Struct(endian + "Q")

    def broken(self, why: str) -> SpecError:
        return SpecError(f"{self.path}: not a readable GGUF file ({why})")

    def take(self, n: int) -> int:
        if n < 0 or self.at + n > self.size:
            raise self.broken("a length runs past the end")
        self.at += n
        return self.at - n

    def u32(self) -> int:
        return int(self._u32.unpack_from(self.data, self.take(4))[0])

    def u64(self) -> int:
        return int(self._u64.unpack_from(self.data, self.take(8))[0])

    def string(self, what: str, limit: int = MAX_GGUF_STRING) -> str | None:
        """A string's text, or None (skipped, not decoded) when longer than `limit` bytes."""
        length = self.u64()
        start = self.take(length)
        if length > limit:
            return None
        try:
            return bytes(self.data[start : start + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.broken(f"{what} is not UTF-8") from None

    def skip_strings(self, count: int) -> None:
        # the tokenizer's 280,000 merges: lengths only, in a tight loop
        if count * 8 > self.size - self.at:
            raise self.broken(f"an array of {count:,} strings cannot fit")
        unpack, data, at, end = self._u64.unpack_from, self.data, self.at, self.size
        for _ in range(count):
            if at + 8 > end:
                raise self.broken("a length runs past the end")
            at += 8 + unpack(data, at)[0]
        if at > end:
            raise self.broken("a length runs past the end")
        self.at = at


def _value(cur: _Cursor, kind: int, key: str, depth: int) -> Value:
    if kind in _SCALARS:
        name, fmt = _SCALARS[kind]
        start = cur.take(struct.calcsize(fmt))
        return Value(name, struct.unpack_from(cur.endian + fmt, cur.data, start)[0])
    if kind == STRING:
        return Value("STRING", cur.string(key))
    if kind != ARRAY or depth >= MAX_GGUF_ARRAY_DEPTH:
        raise cur.broken(f"value type {kind} of {key}")
    inner, count = cur.u32(), cur.u64()
    keep = not key.startswith(_SKIPPED_PREFIX) and count <= MAX_LAYERS
    if inner in _SCALARS:
        name, fmt = _SCALARS[inner]
        start = cur.take(count * struct.calcsize(fmt))
        items = None
        if keep:
            items = list(struct.unpack_from(f"{cur.endian}{count}{fmt}", cur.data, start))
        return Value("ARRAY", items, name, count)
    if inner == STRING and not keep:
        cur.skip_strings(count)
        return Value("ARRAY", None, "STRING", count)
    if inner not in (STRING, ARRAY) or count * 8 > cur.size - cur.at:
        raise cur.broken(f"array of {count:,} of value type {inner} in {key}")
    values = [_value(cur, inner, key, depth + 1) for _ in range(count)]
    if inner == STRING:
        return Value("ARRAY", [v.value for v in values], "STRING", count)
    return Value("ARRAY", None, "ARRAY", count)  # arrays of arrays: walked, not kept


def read_gguf(path: Path) -> tuple[dict[str, Value], int, int, list[Tensor]]:
    """(metadata by key, total parameters, total tensor bytes, the tensor table)."""
    with files.open_regular(path, "a GGUF file") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 24:
            raise SpecError(f"{path}: not a readable GGUF file (only {size} bytes)")
        try:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise SpecError(f"{path}: not a readable GGUF file (cannot map it: {exc})") from None
        with data:
            return _read(data, path)


def _read(data: mmap.mmap, path: Path) -> tuple[dict[str, Value], int, int, list[Tensor]]:
    if data[:4] != b"GGUF":
        raise SpecError(f"{path}: not a readable GGUF file (no GGUF magic)")
    version = struct.unpack_from("<I", data, 4)[0]
    endian = "<" if version & 0xFFFF else ">"  # a byte-swapped 3 reads as 0x03000000
    cur = _Cursor(data, path, endian)
    cur.take(4)
    version = cur.u32()
    if version not in (2, 3):
        raise SpecError(f"{path}: GGUF version {version} is not one kvcalc reads (2 or 3)")
    tensors, keys = cur.u64(), cur.u64()
    if keys > MAX_GGUF_KEYS or tensors > MAX_GGUF_TENSORS or keys * 12 + tensors * 24 > len(data):
        raise cur.broken(f"declared counts too large: {keys:,} keys, {tensors:,} tensors")
    fields: dict[str, Value] = {}
    for _ in range(keys):
        key = cur.string("a key", limit=2**16)
        if key is None:
            raise cur.broken("a key longer than 65,536 bytes")
        if key in fields:
            raise cur.broken(f"key {key[:80]!r} appears twice")
        fields[key] = _value(cur, cur.u32(), key, 0)
    params = nbytes = 0
    placed: list[tuple[str, tuple[int, ...], int, int, int, int]] = []
    for _ in range(tensors):
        name = cur.string("a tensor name", limit=2**16) or "?"
        dims = cur.u32()
        if dims > _MAX_TENSOR_DIMS:
            raise cur.broken(f"tensor {name[:80]!r} has {dims:,} dimensions")
        shape = struct.unpack_from(f"{endian}{dims}Q", data, cur.take(8 * dims))
        ggml_type, offset = cur.u32(), cur.u64()
        elements = math.prod(shape)
        size, block, type_size = _tensor_bytes(cur, name, ggml_type, elements, shape)
        params += elements
        nbytes += size
        placed.append((name, tuple(shape), offset, size, block, type_size))
    # tensor data starts at the next multiple of general.alignment (32 unless the file says)
    align = fields.get("general.alignment")
    step = align.value if align is not None and align.type in INTEGER_TYPES else 32
    if step <= 0 or step & (step - 1):
        raise cur.broken(f"general.alignment {step} is not a power of two")
    start = -(-cur.at // step) * step
    table = []
    for name, shape, offset, size, block, type_size in placed:
        if start + offset + size > len(data):
            raise cur.broken(f"tensor {name[:80]!r} runs past the end of the file")
        table.append(
            Tensor(
                name=name,
                shape=shape,
                nbytes=size,
                offset=start + offset,
                block_values=block,
                block_bytes=type_size,
            )
        )
    return fields, params, nbytes, table


@functools.cache
def gguf_constants() -> Any:
    """The gguf package's constants module (ggml types and their block sizes, file types).

    It imports only the standard library, but `import gguf` runs the package's __init__,
    which loads numpy and the reader/writer: 0.4 s, four times the whole walk of a real
    file.  So the one file is loaded on its own, with the ordinary import as fallback.
    """
    try:
        spec = importlib.util.find_spec("gguf")
        assert spec is not None and spec.origin is not None
        path = os.path.join(os.path.dirname(spec.origin), "constants.py")
        loaded = importlib.util.spec_from_file_location("kvcalc_gguf_constants", path)
        assert loaded is not None and loaded.loader is not None
        module = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(module)
        return module
    except Exception:  # a different layout of the package: import it the ordinary way
        import gguf.constants

        return gguf.constants


def _tensor_bytes(
    cur: _Cursor, name: str, ggml_type: int, elements: int, shape: Any
) -> tuple[int, int, int]:
    """(bytes, block values, block bytes) of one tensor: whole blocks of its ggml type
    (Q4_0: 32 values in 18 bytes)."""
    constants = gguf_constants()
    try:
        block, type_size = constants.GGML_QUANT_SIZES[constants.GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise cur.broken(f"tensor {name[:80]!r} has ggml type {ggml_type}, unknown") from None
    if shape and shape[0] % block:
        raise cur.broken(f"tensor {name[:80]!r}: {shape[0]:,} values do not fill whole blocks")
    return int(elements // block * type_size), int(block), int(type_size)
