"""The values an engine's own start-up accounting works with: the device it sees, the
question it is asked, and the plan it answers with, term by term (vLLM, SGLang).

Apart from base.py, which says what every engine is; only engines with their own
accounting (engines/vllm_plan.py, engines/sglang.py) build these.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.engines.base import LogRecord

if TYPE_CHECKING:
    from kvcalc.dtypes import WeightFormat
    from kvcalc.spec import ModelSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceFacts:
    """What an engine's accounting needs to know about one GPU (hardware.yaml or --mem)."""

    name: str
    kind: str
    """gpu | cpu | unified"""
    memory_bytes: int
    """As the driver reports it (nvidia-smi), or --mem."""
    cuda_memory_bytes: int | None = None
    """As CUDA reports it (torch.cuda.mem_get_info()[1]), where measured."""
    sm_count: int | None = None
    compute_capability: str | None = None

    def cuda_total(self) -> tuple[int, str]:
        """(bytes, where from) of the total CUDA reports, which vLLM and SGLang budget
        from: the measured figure, else the driver's (0.4-0.6 GiB too much)."""
        if self.cuda_memory_bytes is not None:
            return self.cuda_memory_bytes, "CUDA total (hardware.yaml)"
        return self.memory_bytes, "nvidia-smi total (no CUDA total measured)"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryQuestion:
    """One device's budget question, as an engine with its own accounting is asked it."""

    spec: ModelSpec
    device: DeviceFacts
    tp: int
    pp: int
    util: Fraction | None
    """None: the engine's default."""
    weights: WeightFormat | None
    """None: the checkpoint's native format."""
    measured_weight_bytes: int | None = None
    """Weights per GPU as the engine logged them ('Model loading took 7.51 GiB')."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetTerm:
    """One line of a budget breakdown: what it is, its bytes, and where the figure comes from."""

    label: str
    bytes: int
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryPlan:
    """An engine's own accounting of one device: from the memory it sees to its KV memory."""

    device_bytes: int
    device_source: str
    util: Fraction
    usable_bytes: int
    weight_bytes: int
    """On the first pipeline stage's GPUs."""
    weight_label: str
    terms: tuple[BudgetTerm, ...]
    """Everything besides weights taken out of the usable memory (first stage)."""
    stage_kv_bytes: tuple[int, ...]
    """KV memory of each pipeline stage's GPUs (first stage first)."""
    records: tuple[LogRecord, ...] = ()
    """What the engine logs about its budget (before its pool lines)."""
    warnings: tuple[str, ...] = ()
    util_source: str = "= usable"
    """What the fraction is and what it keeps back (SGLang: activations, graphs, tables)."""
