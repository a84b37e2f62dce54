"""The inverse search: the longest context and the most requests that fit a KV budget.

Nothing here re-derives the KV formula: every answer is found by searching
sizing.size() through a Deployment, so sizing and fitting cannot disagree.
Searches are bracketed around a closed-form estimate and bisected, so a 100 TB
budget costs as many calls as 24 GB (a handful: the estimate is exact unless
blocks or windows bend it).

Llama 3 8B on 7,939,477,504 B at 131,072 B/token: 60,573 tokens fit (60,574 would
need 7,939,555,328 B).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from kvcalc.deploy import Deployment
from kvcalc.dtypes import ElementFormat

if TYPE_CHECKING:
    from kvcalc.engines.vllm_groups import BlockPool

# A length past every window any engine keeps (vLLM's window + batched tokens, llama.cpp's
# padded n_swa x n_seq): if even this fits, a model of windowed layers has no length limit.
UNBOUNDED_PROBE = 1 << 62


def largest(fits: Callable[[int], bool], lo: int, guess: int) -> int:
    """Largest n >= lo with fits(n), given fits(lo) and fits monotone (true, then false).

    `guess` is a closed-form estimate of the first n that does not fit (exact for
    token-granular layers: budget // bytes per token + 1).  Steps of 1, 2, 4, ...
    away from the estimate bracket the answer, then bisection closes the bracket, so
    the cost depends on how far off the estimate is (a block or a window), not on
    the budget: 24 GB and 100 TB take the same few calls of the sizing function.
    """
    estimate = max(guess - 1, lo)
    if fits(estimate):
        low, step = estimate, 1
        while fits(estimate + step):
            low, step = estimate + step, step * 2
        high = estimate + step
    else:
        high, step = estimate, 1
        while estimate - step > lo and not fits(estimate - step):
            high, step = estimate - step, step * 2
        low = max(estimate - step, lo)
    while high - low > 1:
        mid = (low + high) // 2
        if fits(mid):
            low = mid
        else:
            high = mid
    return low


def line_estimate(cost: Callable[[int], int], budget: int) -> int:
    """The first n past `budget` on the straight line `cost` follows far out, or 2.

    Every engine's cost is affine in n once windows are saturated and pages are
    whole: cost(n) = slope x n + intercept, where the intercept holds recurrent
    state, saturated windows and padding slots.  Two points far out (2^40 and 2^41,
    multiples of every page size) give both exactly, so the estimate is off only
    by what windows and pages bend below that: Llama 3 8B on 7,939,477,504 B at
    131,072 B/token gives 60,574, the exact first length that does not fit.
    """
    far = 1 << 40
    near_cost = cost(far)
    slope = Fraction(cost(2 * far) - near_cost, far)
    if slope <= 0:
        return 2  # nothing grows that far out: let the search step out from the start
    intercept = near_cost - slope * far
    return max(int((budget - intercept) // slope) + 1, 2)


def max_context(
    dep: Deployment, batch: int, kv_budget: int, k_format: ElementFormat, v_format: ElementFormat
) -> int | None:
    """Longest context for `batch` requests; 0 if not even one token fits, None if unbounded."""

    def cost(seq: int) -> int:
        return dep.bytes_per_device(seq, batch, k_format, v_format)

    if cost(1) > kv_budget:
        return 0
    if dep.saturates_at is not None and cost(UNBOUNDED_PROBE) <= kv_budget:
        return None  # every layer is windowed and stops growing in budget: length is free
    return largest(lambda seq: cost(seq) <= kv_budget, 1, line_estimate(cost, kv_budget))


def max_batch(
    dep: Deployment, seq: int, kv_budget: int, k_format: ElementFormat, v_format: ElementFormat
) -> int:
    """Most concurrent requests of `seq` tokens; 0 if not even one fits."""

    def cost(batch: int) -> int:
        return dep.bytes_per_device(seq, batch, k_format, v_format)

    if cost(1) > kv_budget:
        return 0
    return largest(lambda batch: cost(batch) <= kv_budget, 1, line_estimate(cost, kv_budget))


def pool_context(pool: BlockPool, batch: int) -> int | None:
    """Longest context for `batch` requests in a block pool (vLLM): batch x the blocks one
    request takes in every cache group must fit its blocks; 0 if not one token, None if
    every group is windowed and even a huge length fits."""

    def cost(seq: int) -> int:
        return batch * pool.request_blocks(seq)

    if cost(1) > pool.num_blocks:
        return 0
    if pool.windowed and cost(UNBOUNDED_PROBE) <= pool.num_blocks:
        return None
    guess = line_estimate(cost, pool.num_blocks)
    return largest(lambda seq: cost(seq) <= pool.num_blocks, 1, guess)


def pool_batch(pool: BlockPool, seq: int) -> int:
    """Most requests of `seq` tokens a block pool admits."""
    return pool.num_blocks // pool.request_blocks(seq)
