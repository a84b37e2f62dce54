"""One cache element format: values per block, bytes per block, and what it keeps beside them.

A cache format is a block of `block_values` values stored in `block_bytes` bytes.
Plain formats are blocks of one value (fp16: 1 value in 2 bytes); packed int4 is
2 values in 1 byte; llama.cpp's q8_0 is 32 int8 values plus one fp16 scale =
34 bytes.  A row of n values takes ceil(n / block_values) * block_bytes bytes,
which is how ggml sizes a row (ggml_row_size) when n is a multiple of the block.
The engines' own formats add per-head scales, per-head blocks, K/V slots and fixed
MLA rows, as fields (see ElementFormat).  The tables are in dtypes.py and
engine_formats.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvcalc.errors import UsageError

PER_HEAD_KINDS = frozenset({"full", "sliding", "chunked"})
"""Cache kinds with per-head K and V rows (layers.CACHE_KINDS less latent and state)."""
LATENT_KINDS = frozenset({"latent"})


@dataclass(frozen=True, slots=True)
class ElementFormat:
    """A cache element format: `block_bytes` bytes hold `block_values` values.

    Engine formats add what they store beside the values, as data read by the layer
    classes (never a branch in a caller):

    - `head_bytes` per KV head per row: vLLM's int8_per_token_head keeps one fp32
      scale per token per head for K and one for V, carved from the same pool, so
      8 KV heads x 128 dims cost 1,024 + 8 x 4 = 1,056 B of K per token per layer;
    - `per_head`: blocks restart at every head (vLLM's nvfp4 packs head_dim // 2 bytes
      of e2m1 plus head_dim // 16 fp8 scales per head), so head_dim must be a whole
      number of blocks; ggml's formats block the whole row instead (ggml_row_size);
    - `packed`: bit-packed codes with no per-block scale, ceil(n x bits / 8) bytes per
      head (TurboQuant's 3-bit keys: 128 dims -> 48 B);
    - `v_side`: V rows in another encoding (turboquant_k8v4: fp8 K, 4-bit V), and
      `slot_align`: the per-head K + V slot rounded up to a multiple of it, the pad
      counted in V (TurboQuant's slot_size_aligned rounds to even);
    - `latent_bytes`: a fixed packed row for an MLA latent of `latent_dims`
      (fp8_ds_mla: 656 B per token per layer for DeepSeek's 512 + 64);
    - `kinds`: the cache kinds the format exists for, with the reason (fp8_ds_mla is an
      MLA row only).
    """

    name: str
    block_values: int
    block_bytes: int
    description: str
    head_bytes: int = 0
    per_head: bool = False
    packed: bool = False
    v_side: ElementFormat | None = None
    slot_align: int = 1
    latent_bytes: int | None = None
    latent_dims: tuple[int, int] | None = None
    kinds: frozenset[str] | None = None
    kinds_reason: str = ""
    source: str = ""
    """Where the bytes come from (engine source file)."""

    def row_bytes(self, n_values: int, heads: int = 1) -> int:
        """Bytes for one row of n values (one token's K or V in one layer), blocked whole.

        >>> from kvcalc.dtypes import KV_FORMATS
        >>> KV_FORMATS["q8_0"].row_bytes(1024)  # 32 blocks x 34 bytes
        1088
        >>> KV_FORMATS["int8_per_token_head"].row_bytes(1024, heads=8)  # + 8 fp32 scales
        1056
        """
        if self.packed:
            data = -(-n_values * self.block_bytes // self.block_values)
        else:
            data = -(-n_values // self.block_values) * self.block_bytes
        return data + heads * self.head_bytes

    def head_row_bytes(self, kind: str, heads: int, dim: int) -> int:
        """K bytes of one token in one layer of `heads` KV heads x `dim` values."""
        self.check_kind(kind)
        if not self.per_head:
            return self.row_bytes(heads * dim, heads)
        if dim % self.block_values and not self.packed:
            raise UsageError(
                f"{self.name} packs {self.block_values} values per block in every head; "
                f"head_dim {dim} is not a multiple of {self.block_values}"
            )
        return heads * self.row_bytes(dim)

    def v_row_bytes(self, kind: str, heads: int, k_dim: int, v_dim: int) -> int:
        """V bytes of one token in one layer, with the slot pad when K + V are aligned.

        >>> from kvcalc.dtypes import KV_FORMATS
        >>> KV_FORMATS["turboquant_k8v4"].v_row_bytes("full", 1, 128, 128)  # 64 + 4
        68
        """
        side = self.v_side or self
        v_head = side.head_row_bytes(kind, 1, v_dim)
        if self.slot_align > 1:
            # one slot per head holds K then V; the engine rounds the slot up, not each part
            slot = self.head_row_bytes(kind, 1, k_dim) + v_head
            v_head += -slot % self.slot_align
        return heads * v_head

    def latent_row_bytes(self, kv_lora_rank: int, rope_dim: int) -> int:
        """Bytes of one MLA latent row (one per token per layer, no V)."""
        self.check_kind("latent")
        if self.latent_bytes is None:
            return self.row_bytes(kv_lora_rank + rope_dim)
        if (kv_lora_rank, rope_dim) != self.latent_dims:
            want = self.latent_dims or (0, 0)
            raise UsageError(
                f"{self.name} is a fixed {self.latent_bytes} B row for a {want[0]} + {want[1]} "
                f"latent; this model's latent is {kv_lora_rank} + {rope_dim}"
            )
        return self.latent_bytes

    def check_kind(self, kind: str) -> None:
        if self.kinds is not None and kind not in self.kinds:
            raise UsageError(f"{self.name} has no form for {kind} layers: {self.kinds_reason}")

    @property
    def plain(self) -> bool:
        """One value per block, nothing beside it (fp32, fp16, bf16, fp8, int8)."""
        return (
            self.block_values == 1
            and self.head_bytes == 0
            and self.v_side is None
            and self.latent_bytes is None
        )

    @property
    def summary(self) -> str:
        """The storage in a few words: '1 B per value', '9 B per 16 values + 4 B per head'."""
        if self.latent_bytes is not None:
            return f"{self.latent_bytes} B per latent row"
        per = "value" if self.block_values == 1 else f"{self.block_values} values"
        text = f"{self.block_bytes} B per {per}"
        if self.head_bytes:
            text += f" + {self.head_bytes} B per head"
        if self.v_side is not None:
            text += f"; V {self.v_side.summary}"
        return text


def fmt(name: str, values: int, nbytes: int, description: str, **extra: Any) -> ElementFormat:
    return ElementFormat(name, values, nbytes, description, **extra)
