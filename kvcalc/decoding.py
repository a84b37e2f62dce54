"""The decode bandwidth bound: bytes read per step, and the time they take at best.

Generating one token for every running request reads every weight once and the
whole KV cache of every request.  At memory bandwidth W (bytes/s), a step takes
at least (weights + KV) / W; compute, kernel efficiency and scheduling only add.

Llama 3 70B, bf16 weights, fp16 cache, 2,048 tokens x 32 requests on an H100
SXM (3,350 GB/s): 70,553,706,496 x 2 = 141,107,412,992 B of weights + 21,474,836,480 B
of KV = 162,582,249,472 B -> at least 48.53 ms per step, 20.6 tokens/s per
request.  With MHA the KV read alone is 171,798,691,840 B (51.3 ms by itself).

Weights are counted once per step in full: right for dense models and for MoE
at large batch (every expert is hit); an MoE at batch 1 reads only its active
experts, so its bound is lower than this.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kvcalc.budget import model_weights
from kvcalc.deploy import deploy
from kvcalc.dtypes import ElementFormat, WeightFormat
from kvcalc.engines import IDEAL, Engine
from kvcalc.search import max_batch, max_context
from kvcalc.sizing import forms
from kvcalc.spec import ModelSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeStep:
    """One variant's bytes per decode step on the most loaded device, and its time bound."""

    name: str
    """configured | mha | mqa | a KV-head count"""
    attention: str
    kv_heads: int
    seq: int
    batch: int
    weight_bytes: int
    """Weights one device reads per step (total / tensor-parallel size, rounded up)."""
    kv_bytes: int
    bandwidth: int
    """Bytes/s of one device."""

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes

    @property
    def step_seconds(self) -> Fraction:
        return Fraction(self.total_bytes, self.bandwidth)

    @property
    def tokens_per_second(self) -> Fraction:
        """Upper bound per request: one token per step."""
        return 1 / self.step_seconds

    @property
    def aggregate_tokens_per_second(self) -> Fraction:
        return self.batch / self.step_seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Decode:
    spec: ModelSpec
    weight_format: str
    tp: int
    steps: tuple[DecodeStep, ...]
    crossover_seq: int | None
    """Smallest length at which KV (at this batch) reads more than the weights; None: never."""
    crossover_batch: int
    """Smallest batch at which KV (at this length) reads more than the weights."""


def decode_bound(
    spec: ModelSpec,
    seq: int,
    batch: int,
    bandwidth: int,
    *,
    k_fmt: ElementFormat,
    v_fmt: ElementFormat,
    weights: WeightFormat | None = None,
    tp: int = 1,
    engine: Engine = IDEAL,
    kv_heads: int | None = None,
) -> Decode:
    """The configured model (or `kv_heads`) beside its MHA and MQA forms."""
    total_weights, label = model_weights(spec, weights)
    per_device = -(-total_weights // tp)
    steps = [
        DecodeStep(
            name=form.name,
            attention=form.attention,
            kv_heads=form.kv_heads or spec.num_kv_heads,
            seq=seq,
            batch=batch,
            weight_bytes=per_device,
            kv_bytes=deploy(spec, tp, 1, form.kv_heads, engine).bytes_per_device(
                seq, batch, k_fmt, v_fmt
            ),
            bandwidth=bandwidth,
        )
        for form in forms(spec, kv_heads)
    ]
    # KV overtakes weights where KV >= weights: one past the largest point with KV < weights
    dep = deploy(spec, tp, 1, kv_heads, engine)
    below = max_context(dep, batch, per_device - 1, k_fmt, v_fmt)
    most = max_batch(dep, seq, per_device - 1, k_fmt, v_fmt)
    return Decode(
        spec=spec,
        weight_format=label,
        tp=tp,
        steps=tuple(steps),
        crossover_seq=None if below is None else below + 1,
        crossover_batch=most + 1,
    )
