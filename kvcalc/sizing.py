"""Pure integer arithmetic: layer groups x tokens x requests -> bytes.

This is the only place the KV formula lives; the fit search calls this function
rather than re-deriving it, so sizing and fitting cannot disagree.

For one group of `count` identical layers and `batch` requests of `seq` tokens:

    K bytes = count x slots x row_bytes(kv_heads x k_head_dim)
    V bytes = count x slots x row_bytes(kv_heads x v_head_dim)
    state bytes = count x batch x state_bytes   (recurrent layers; length-independent)

where slots is what the engine keeps for the batch: ideally batch x tokens_held(seq);
an engine profile (engines/) states its own rule per cache kind (vLLM blocks,
llama.cpp padded cells) and may store a kind differently.

Llama 3 70B, fp16, 2,048 tokens x 32 requests: 80 x 32 x 2,048 x 2,048 B =
10,737,418,240 B of K, the same of V, 21,474,836,480 B in all (21.47 GB, 20.00 GiB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kvcalc.dtypes import ElementFormat
from kvcalc.engines import IDEAL, Engine
from kvcalc.errors import UsageError
from kvcalc.layers import LayerCache, LayerGroup, expand
from kvcalc.spec import ModelSpec, attention_label


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupSize:
    """Bytes of one layer group for the whole batch."""

    cache: LayerCache
    count: int
    tokens_held: int
    """Tokens each layer keeps per request (seq, or the window for sliding layers)."""
    cells: int
    """Token slots one layer keeps for the whole batch, as the engine allocates them."""
    k_token_bytes: int
    """K bytes of one token in one layer."""
    v_token_bytes: int
    k_bytes: int
    v_bytes: int
    state_bytes: int
    """Fixed per-request state of recurrent layers (0 for attention layers)."""

    @property
    def total_bytes(self) -> int:
        return self.k_bytes + self.v_bytes + self.state_bytes

    @property
    def layer_token_bytes(self) -> int:
        """K + V bytes of one token in one layer (Llama 3 70B fp16: 4,096)."""
        return self.k_token_bytes + self.v_token_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeResult:
    """The byte breakdown of one (model, seq, batch, formats) question."""

    seq: int
    batch: int
    groups: tuple[GroupSize, ...]
    k_bytes: int
    v_bytes: int
    state_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.k_bytes + self.v_bytes + self.state_bytes

    @property
    def bytes_per_request(self) -> int:
        # exact when every request holds its own slots (ideal, vLLM); engines with one
        # shared padded pool (llama.cpp, SGLang) give the average, rounded up
        return -(-self.total_bytes // self.batch)

    @property
    def k_bytes_per_token(self) -> int:
        """K bytes one cached token costs across all layers, before any window caps it."""
        return sum(group.count * group.k_token_bytes for group in self.groups)

    @property
    def v_bytes_per_token(self) -> int:
        return sum(group.count * group.v_token_bytes for group in self.groups)

    @property
    def bytes_per_token(self) -> int:
        """Bytes one cached token costs across all layers (Llama 3 70B fp16: 327,680)."""
        return self.k_bytes_per_token + self.v_bytes_per_token

    @property
    def num_layers(self) -> int:
        return sum(group.count for group in self.groups)


def group_size(
    group: LayerGroup,
    seq: int,
    batch: int,
    k_format: ElementFormat,
    v_format: ElementFormat,
    engine: Engine = IDEAL,
) -> GroupSize:
    cache = group.cache
    engine.check_layer(cache, k_format, v_format)  # e.g. vLLM has no nvfp4 MLA cache
    cells = engine.slots(cache, seq, batch)  # ideal: batch x tokens_held(seq)
    k_token, v_token = cache.k_token_bytes(k_format), cache.v_token_bytes(v_format)
    slots = group.count * cells  # (layer, token slot) pairs this group keeps
    return GroupSize(
        cache=cache,
        count=group.count,
        tokens_held=cache.tokens_held(seq),
        cells=cells,
        k_token_bytes=k_token,
        v_token_bytes=v_token,
        k_bytes=slots * k_token,
        v_bytes=slots * v_token,
        # fixed per request (llama.cpp: per slot, which may be more than the requests)
        state_bytes=group.count * engine.state_requests(batch) * cache.state_bytes(),
    )


def merge(groups: tuple[LayerGroup, ...]) -> tuple[LayerGroup, ...]:
    """One group per distinct cache spec, in order of first appearance.

    Bytes do not depend on layer order (only the pipeline split does), so Gemma 2's
    21 alternations of sliding/full become two groups of 21 layers.
    """
    counts: dict[LayerCache, int] = {}
    for group in groups:
        counts[group.cache] = counts.get(group.cache, 0) + group.count
    return tuple(LayerGroup(cache, n) for cache, n in counts.items())


def size(
    groups: tuple[LayerGroup, ...],
    seq: int,
    batch: int,
    k_format: ElementFormat,
    v_format: ElementFormat,
    engine: Engine = IDEAL,
) -> SizeResult:
    """Exact bytes for `batch` requests of `seq` tokens each, as `engine` allocates them.

    >>> from kvcalc.catalog import load_model
    >>> from kvcalc.dtypes import kv_format
    >>> fp16 = kv_format("fp16")
    >>> size(expand(load_model("llama2-7b")), 4096, 1, fp16, fp16).total_bytes  # 2 GiB
    2147483648
    """
    if seq < 0 or batch < 1:
        raise UsageError(f"need seq >= 0 and batch >= 1, got seq={seq}, batch={batch}")
    engine.check(groups, k_format, v_format)  # a cache the engine refuses to create
    sizes = tuple(group_size(g, seq, batch, k_format, v_format, engine) for g in merge(groups))
    return SizeResult(
        seq=seq,
        batch=batch,
        groups=sizes,
        k_bytes=sum(s.k_bytes for s in sizes),
        v_bytes=sum(s.v_bytes for s in sizes),
        state_bytes=sum(s.state_bytes for s in sizes),
    )


def engine_groups(
    spec: ModelSpec, num_kv_heads: int | None = None, engine: Engine = IDEAL
) -> tuple[LayerGroup, ...]:
    """expand(), then each layer as `engine` stores it (transformers: MLA decompressed;
    llama.cpp: its per-architecture rules)."""
    return engine.stored(expand(spec, num_kv_heads), spec)


@dataclass(frozen=True, slots=True, kw_only=True)
class Form:
    """One grouping of a model's KV heads: as configured, dialed, or its MHA/MQA form."""

    name: str
    """configured | dialed | mha | mqa"""
    kv_heads: int | None
    """The re-grouping passed to expand (None: as configured)."""
    shown_heads: int
    """KV heads to show (1 for a model without per-head K/V: one latent row)."""
    attention: str
    """'GQA-8', 'MHA', 'MQA', or the model's own label when it has no per-head K/V."""


def forms(spec: ModelSpec, kv_heads: int | None = None) -> tuple[Form, ...]:
    """The model as configured (or dialed to `kv_heads`) beside its MHA and MQA forms.

    The one place that decides what `size`, `decode` and `plot` compare: a model
    without per-head K/V (MLA, recurrent only) has no MHA/MQA form, only itself.
    """
    first_name = "configured" if kv_heads is None else "dialed"
    if not spec.per_head_kv:  # no KV heads to count: one latent row, shown as 1
        kind = spec.attention_kind
        return (Form(name=first_name, kv_heads=kv_heads, shown_heads=1, attention=kind),)
    heads = spec.num_query_heads
    shown = kv_heads if kv_heads is not None else spec.num_kv_heads
    return (
        Form(
            name=first_name,
            kv_heads=kv_heads,
            shown_heads=shown,
            attention=attention_label(heads, shown),
        ),
        Form(name="mha", kv_heads=heads, shown_heads=heads, attention="MHA"),
        Form(name="mqa", kv_heads=1, shown_heads=1, attention="MQA"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One grouping of the same model (as configured, or re-grouped), sized."""

    name: str
    """configured | dialed | mha | mqa"""
    kv_heads: int
    attention: str
    result: SizeResult


def resolve_kv_heads(spec: ModelSpec, kv_heads: int | None, attention: str | None) -> int | None:
    """The KV-head override asked for by --kv-heads or --attention, validated."""
    if (kv_heads is not None or attention is not None) and not spec.per_head_kv:
        raise UsageError(
            f"{spec.id} has no per-head K/V (an MLA latent or recurrent state instead): "
            "--kv-heads and --attention do not apply"
        )
    if kv_heads is not None and attention is not None:
        raise UsageError("give --kv-heads or --attention, not both")
    if attention is not None:
        choice = attention.strip().lower()
        if choice not in ("mha", "mqa"):
            raise UsageError(
                f"--attention must be mha or mqa, not {attention!r} (use --kv-heads N for GQA)"
            )
        return spec.num_query_heads if choice == "mha" else 1
    if kv_heads is not None and (kv_heads < 1 or spec.num_query_heads % kv_heads):
        raise UsageError(
            f"--kv-heads {kv_heads} does not divide {spec.num_query_heads} query heads "
            f"of {spec.id}; "
            f"valid: {', '.join(str(g) for g in divisors(spec.num_query_heads))}"
        )
    return kv_heads


def variants(
    spec: ModelSpec,
    seq: int,
    batch: int,
    k_format: ElementFormat,
    v_format: ElementFormat,
    kv_heads: int | None = None,
    engine: Engine = IDEAL,
) -> tuple[Variant, ...]:
    """Each of forms(spec, kv_heads), sized at (seq, batch).

    The model as asked must size (an engine's refusal is the answer); an MHA or MQA form
    the engine would refuse (llama.cpp's q8_0 K rows of one 16-value head) is left out.
    """
    shown = []
    for i, form in enumerate(forms(spec, kv_heads)):
        try:
            groups = engine_groups(spec, form.kv_heads, engine)
            result = size(groups, seq, batch, k_format, v_format, engine)
        except UsageError:
            if i == 0:
                raise
            continue
        shown.append(
            Variant(
                name=form.name, kv_heads=form.shown_heads, attention=form.attention, result=result
            )
        )
    return tuple(shown)


def divisors(n: int) -> list[int]:
    """Every valid KV-head count for n query heads: 64 -> 1, 2, 4, 8, 16, 32, 64."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def dial(
    spec: ModelSpec,
    seq: int,
    batch: int,
    k_format: ElementFormat,
    v_format: ElementFormat,
    engine: Engine = IDEAL,
) -> list[Variant]:
    """The model re-grouped at every valid KV-head count G (divisors of the query heads)."""
    resolve_kv_heads(spec, spec.num_query_heads, None)  # refuses latent-only (MLA) models
    heads = spec.num_query_heads
    return [
        Variant(
            name="configured" if g == spec.num_kv_heads else "dialed",
            kv_heads=g,
            attention=attention_label(heads, g),
            result=size(engine_groups(spec, g, engine), seq, batch, k_format, v_format, engine),
        )
        for g in divisors(heads)
    ]
