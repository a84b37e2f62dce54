"""vLLM's start-up accounting on one GPU: requested memory minus what is not KV = KV memory.

Worker.determine_available_memory (vllm/v1/worker/gpu_worker.py, 0.19.0 / 0.20.0):

    requested = ceil(total x gpu_memory_utilization)         (v1/worker/utils.py request_memory)
    KV memory = requested - weights - torch peak increase - non-torch increase
                [- CUDA graph estimate, from 0.20: VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1]

`total` is what CUDA reports (torch.cuda.mem_get_info()[1]): 79.19 GiB on an H100 80GB,
not nvidia-smi's 79.65.  Weights come from kvcalc/weights.py (or a measured "Model
loading took" figure), the torch peak from vllm_profile.py.  The non-torch increase
and the CUDA-graph estimate are measured, not derived: they belong to the driver,
NCCL and the interconnect, and the constants below are H100 SXM (NVSwitch) figures
from the 46 complete vLLM 0.19.0 start-up logs of llm-d-incubation/llm-d-planner
PR #205 (/work/shared/reference/engine-logs).  Other GPUs get the same constants.

Llama 3.1 8B bf16 on an H100, util 0.95: ceil(85,029,158,912 x 0.95) = 80,777,700,967 B
(75.23 GiB) - 14.99 GiB weights - 1.88 GiB peak - 0.25 GiB non-torch = 58.11 GiB of KV.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kvcalc.engines.vllm_profile import ProfilePeak

GiB = 1 << 30
MiB = 1 << 20

# "non-torch forward increase memory" of the 0.19.0 logs, median over their 34 distinct
# configurations: what the driver and NCCL allocate lazily during profiling, measured from
# the worker's snapshot taken after NCCL init.  One GPU: 0.24-0.26 GiB (31 logs; Granite
# 3.x text models 0.46, unexplained); TP 2: 2.06-2.11 (NCCL channel buffers at the first
# collective and the all-reduce fusion workspace); TP 4: 2.13-2.21; pipeline stages with
# one GPU each: 0.07 (p2p already set up before the snapshot).  TP 8 is unmeasured: TP 4's.
NON_TORCH_ONE_GPU = 256 * MiB  # 0.25 GiB
NON_TORCH_PIPELINE = 72 * MiB  # 0.07 GiB
NON_TORCH_TP2 = 2120 * MiB  # 2.07 GiB
NON_TORCH_TP4 = 2181 * MiB  # 2.13 GiB

# "Estimated CUDA graph memory: X GiB total" in the same logs, 0.49-1.92 GiB: capturing
# one graph per batch size of every compiled piece (a piece per layer).  A straight line
# in the layers on the GPU fits the 34 configurations to a median 0.12 GiB (worst 0.8,
# Granite 3.1 2B): 0.33 GiB + 18 MiB per layer.  Only 0.20+ subtracts it from the budget.
CUDA_GRAPH_BASE = 336 * MiB
CUDA_GRAPH_PER_LAYER = 18 * MiB

# Memory in use when the worker takes its snapshot (CUDA context, NCCL communicators):
# 0.51 GiB on one GPU, 1.43-2.01 GiB with TP or PP in the same logs (median 1.53).  It is
# in no term above, so it must fit in the (1 - util) x total vLLM leaves alone.
INIT_ONE_GPU = 522 * MiB  # 0.51 GiB
INIT_MULTI_GPU = 1567 * MiB  # 1.53 GiB
# What the sampler warm-up after the KV allocation needs besides its own transients
# (fragmentation): start-ups with less than this left are the ones that fail there.
THIN_MARGIN = 512 * MiB


def non_torch_bytes(tp: int, pp: int) -> int:
    if tp == 1:
        return NON_TORCH_ONE_GPU if pp == 1 else NON_TORCH_PIPELINE
    return NON_TORCH_TP2 if tp == 2 else NON_TORCH_TP4


def cuda_graph_bytes(layers: int) -> int:
    """Llama 3.1 8B on one GPU: 336 MiB + 32 x 18 MiB = 0.89 GiB (logged: 0.84)."""
    return CUDA_GRAPH_BASE + layers * CUDA_GRAPH_PER_LAYER


def init_bytes(tp: int, pp: int) -> int:
    return INIT_ONE_GPU if tp * pp == 1 else INIT_MULTI_GPU


def requested_bytes(total: int, util: Fraction) -> int:
    """ceil(total x util): 85,029,158,912 x 0.95 -> 80,777,700,967 B."""
    return -(-total * util.numerator // util.denominator)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageMemory:
    """One pipeline stage's GPU, term by term."""

    weight_bytes: int
    peak: ProfilePeak
    non_torch_bytes: int
    cuda_graph_bytes: int
    """The graph estimate: taken out of the budget from 0.20, after it in 0.19."""
    kv_bytes: int

    @property
    def non_kv_bytes(self) -> int:
        """'Total non KV cache memory': weights + torch peak + non-torch."""
        return self.weight_bytes + self.peak.peak_bytes + self.non_torch_bytes


def stage_memory(
    requested: int,
    weights: int,
    peak: ProfilePeak,
    *,
    non_torch: int,
    cuda_graph: int,
    graphs_in_budget: bool,
    kv_cache_memory: int | None,
) -> StageMemory:
    """KV memory of one stage: the requested memory less everything else (or the fixed
    --kv-cache-memory, which skips the budget altogether)."""
    if kv_cache_memory is not None:
        kv = kv_cache_memory
    else:
        kv = requested - weights - peak.peak_bytes - non_torch
        kv -= cuda_graph if graphs_in_budget else 0
    return StageMemory(
        weight_bytes=weights,
        peak=peak,
        non_torch_bytes=non_torch,
        cuda_graph_bytes=cuda_graph,
        kv_bytes=kv,
    )


def margin_bytes(total: int, stage: StageMemory, init: int, graphs_in_budget: bool) -> int:
    """Memory left on the GPU after the KV cache, CUDA graphs and the snapshot's baseline:
    what the sampler warm-up (max_num_seqs dummy requests, run after the KV allocation)
    has beyond re-using the profiling run's space.  0.19: total - init - everything
    charged - graphs; 0.20 charged the graph estimate already."""
    used = init + stage.non_kv_bytes + stage.kv_bytes
    used += 0 if graphs_in_budget else stage.cuda_graph_bytes
    return total - used


def safe_util(total: int, stage: StageMemory, init: int, graphs_in_budget: bool) -> Fraction:
    """The largest utilization (to 0.01) that leaves THIN_MARGIN after everything."""
    outside = init + THIN_MARGIN + (0 if graphs_in_budget else stage.cuda_graph_bytes)
    hundredths = (total - outside) * 100 // total
    return Fraction(max(hundredths, 1), 100)
