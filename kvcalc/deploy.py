"""Deployment: the layers each device holds, with KV heads split by tp and layers by pp.

Tensor parallelism shards every layer's cache as its kind allows (per-head K/V
split across ranks, a replica per rank past one head; an MLA latent whole on every
rank; recurrent state split).  Pipeline parallelism gives each stage a contiguous
run of layers; the most loaded device decides what fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvcalc.dtypes import ElementFormat
from kvcalc.engines import IDEAL, Engine
from kvcalc.errors import UsageError
from kvcalc.layers import LayerCache, LayerGroup
from kvcalc.sizing import SizeResult, engine_groups, size
from kvcalc.spec import ModelSpec


def split_stages(groups: tuple[LayerGroup, ...], pp: int) -> list[tuple[LayerGroup, ...]]:
    """Split layers into `pp` contiguous pipeline stages, as vLLM does.

    vLLM (vllm/distributed/utils.py get_pp_indices) gives every stage L // pp
    layers and adds the remainder one layer each to the stages counting back
    from the second-to-last (the last stage also runs the LM head): 80 layers
    on 3 stages are [27, 27, 26]; 61 layers on 4 are [15, 15, 16, 15].
    """
    num_layers = sum(group.count for group in groups)
    if not 1 <= pp <= num_layers:
        raise UsageError(f"pipeline parallel size {pp} must be between 1 and {num_layers} layers")
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    stages: list[tuple[LayerGroup, ...]] = []
    runs = [(group.cache, group.count) for group in groups]
    run_index = 0
    for size_left in sizes:
        stage: list[LayerGroup] = []
        while size_left:
            cache, left = runs[run_index]
            take = min(size_left, left)
            stage.append(LayerGroup(cache, take))
            size_left -= take
            if take == left:
                run_index += 1
            else:
                runs[run_index] = (cache, left - take)
        stages.append(tuple(stage))
    return stages


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """The layers each device holds: heads split by tp, layers split by pp."""

    stages: tuple[tuple[LayerGroup, ...], ...]
    tp: int
    pp: int
    engine: Engine = IDEAL

    def worst_stage(
        self, seq: int, batch: int, k_format: ElementFormat, v_format: ElementFormat
    ) -> SizeResult:
        """The size answer of the most loaded device (every stage must fit the same budget)."""
        return max(
            (size(stage, seq, batch, k_format, v_format, self.engine) for stage in self.stages),
            key=lambda result: result.total_bytes,
        )

    def bytes_per_device(
        self, seq: int, batch: int, k_format: ElementFormat, v_format: ElementFormat
    ) -> int:
        """KV bytes on the most loaded device."""
        return self.worst_stage(seq, batch, k_format, v_format).total_bytes

    def token_kv_bytes(self, k_format: ElementFormat, v_format: ElementFormat) -> tuple[int, int]:
        """(K, V) bytes one more cached token costs on the most loaded device (before windows)."""
        per_stage = (size(stage, 1, 1, k_format, v_format) for stage in self.stages)
        worst = max(per_stage, key=lambda r: r.bytes_per_token)
        return worst.k_bytes_per_token, worst.v_bytes_per_token

    def state_bytes(self, k_format: ElementFormat, v_format: ElementFormat) -> int:
        """Fixed recurrent state one request holds on the most loaded device."""
        return max(size(stage, 0, 1, k_format, v_format).state_bytes for stage in self.stages)

    @property
    def caches(self) -> list[LayerCache]:
        return [group.cache for stage in self.stages for group in stage]

    @property
    def kv_heads_per_device(self) -> int:
        return max(cache.num_kv_heads for cache in self.caches)

    @property
    def layers_per_device(self) -> int:
        return max(sum(group.count for group in stage) for stage in self.stages)

    @property
    def saturates_at(self) -> int | None:
        """Length past which no device grows (all layers windowed), else None."""
        caps = [cache.saturates_at for cache in self.caches]
        return None if any(cap is None for cap in caps) else max(c for c in caps if c is not None)


def deploy(
    spec: ModelSpec,
    tp: int = 1,
    pp: int = 1,
    kv_heads: int | None = None,
    engine: Engine = IDEAL,
) -> Deployment:
    """Shard every layer's KV heads over tp ranks, then split layers into pp stages."""
    if tp < 1:
        raise UsageError(f"--tp must be at least 1, got {tp}")
    if spec.num_query_heads % tp:
        raise UsageError(
            f"tensor parallel size {tp} does not divide {spec.num_query_heads} query heads"
        )
    groups = tuple(
        LayerGroup(g.cache.shard(tp), g.count) for g in engine_groups(spec, kv_heads, engine)
    )
    groups = engine.allocated(groups)  # vLLM: hybrid cache groups padded with empty slots
    return Deployment(stages=tuple(split_stages(groups, pp)), tp=tp, pp=pp, engine=engine)
