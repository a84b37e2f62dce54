"""Documented numbers recomputed: `kvcalc check` and configs/claims.yaml.

Each claim names a configuration and a published value.  We compute the exact
value with the same functions `size` and `fit` use, compare, and give a verdict:

- exact: the published value is the exact value (16,384 tokens; 2048.00 MiB);
- within rounding: it is the exact value rounded to the digits printed
  (21.47 GB for 21,474,836,480 B: within 0.005 GB);
- off: neither; we give the factor and, when one exists, a single change of
  configuration (batch, length, KV heads, dtype, GiB read as GB) that
  reproduces the published figure.

A claim whose verdict differs from the one recorded in the file fails the
check (exit 1), so CI notices when a formula change moves a documented number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from kvcalc.deploy import deploy
from kvcalc.dtypes import kv_format
from kvcalc.engines import Engine, engine
from kvcalc.errors import UsageError
from kvcalc.limits import MAX_NUMBER_DIGITS
from kvcalc.sizing import divisors, engine_groups, resolve_kv_heads, size
from kvcalc.spec import Claim, ModelSpec, attention_label
from kvcalc.units import DIGITS, GB, GiB, UnitError, parse_bytes, parse_fraction, unit_bytes

# A published number in the one grammar of units.py, plus the thousands commas documents
# print ('16,384'): groups of exactly three digits, so '1,,,,2 GB' is refused, not 12 GB.
_NUMBER = re.compile(
    rf"^\s*((?:[0-9]{{1,3}}(?:,[0-9]{{3}})+|{DIGITS})(?:\.({DIGITS}))?)\s*([A-Za-z]*)\s*$",
    re.ASCII,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """A published number as an exact value and the half-unit of its last printed digit."""

    value: Fraction
    half_ulp: Fraction
    unit: str
    """'B'-family unit name, 'x' for a ratio, '' for a count."""
    places: int
    """Decimals printed: '20.9 GB' -> 1."""


def read_published(text: str) -> Published:
    """'20.9 GB' -> 20,900,000,000 B +- 50,000,000 B; '8x' -> 8 +- 1/2; '16384' -> 16,384."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    if sum(ch.isdigit() for ch in text) > MAX_NUMBER_DIGITS:
        raise UsageError(f"published value {shown!r}: more than {MAX_NUMBER_DIGITS} digits")
    match = _NUMBER.match(text)
    if match is None:
        raise UsageError(
            f"published value {shown!r} is not a number with an optional unit (digits, "
            "commas only between groups of three, one decimal point: '16,384', '20.9 GB')"
        )
    digits, decimals, unit = match.group(1), (match.group(2) or "").replace("_", ""), match.group(3)
    number = Fraction(Decimal(digits.replace(",", "").replace("_", "")))
    half = Fraction(1, 2 * 10 ** len(decimals))
    if unit in ("", "x", "X"):
        return Published(value=number, half_ulp=half, unit=unit.lower(), places=len(decimals))
    try:
        scale = unit_bytes(unit)
    except UnitError as exc:
        raise UsageError(f"published value {text!r}: {exc}") from None
    return Published(value=number * scale, half_ulp=half * scale, unit=unit, places=len(decimals))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    claim: Claim
    value: Fraction | str
    """The exact value of the claimed quantity (a label for 'attention')."""
    published: Published | None
    """The published number read exactly (None for a label)."""
    verdict: str
    explanation: str
    """For 'off': a configuration that reproduces the published figure, if one does."""

    @property
    def ok(self) -> bool:
        return self.verdict == self.claim.expect


def checked_engine(claim: Claim) -> Engine:
    """The claim's engine, refusing a cache format it does not offer."""
    chosen = engine(claim.engine, claim.block_size)
    fmt = kv_format(claim.kv_dtype)
    chosen.check_formats(fmt, fmt)
    return chosen


def kv_budget(claim: Claim, chosen: Engine) -> int:
    """The claim's KV memory: kv_budget, or the engine's fraction of free_memory.

    TensorRT-LLM's memory.md: 'available: 70.48 GiB' = 75,677,323,755 B (rounded down)
    x 0.9 in float32 = 68,109,594,624 B.
    """
    if claim.free_memory is None:
        if claim.kv_budget is None:
            raise UsageError(f"claim {claim.id}: {claim.quantity} needs kv_budget")
        return parse_bytes(claim.kv_budget)
    of_free = chosen.budget.kv_of_free
    if of_free is None:
        raise UsageError(
            f"claim {claim.id}: free_memory applies to engines whose fraction is of the "
            f"memory free after loading (tensorrt-llm), not {chosen.name}"
        )
    free = int(read_published(claim.free_memory).value)
    try:
        util = parse_fraction(claim.util) if claim.util else chosen.budget.util_for("gpu", 1)
    except UnitError as exc:
        raise UsageError(f"claim {claim.id}: util: {exc}") from None
    return of_free(free, util)


def total_bytes(
    spec: ModelSpec,
    claim: Claim,
    seq: int | None = None,
    batch: int | None = None,
    kv_heads: int | None = None,
    dtype: str | None = None,
) -> int:
    chosen = engine(claim.engine, claim.block_size)
    fmt = kv_format(dtype or claim.kv_dtype)
    heads = kv_heads or resolve_kv_heads(spec, None, claim.attention)
    groups = engine_groups(spec, heads, chosen)
    tokens = seq or claim.seq or spec.max_context
    return size(groups, tokens, batch or claim.batch, fmt, fmt, chosen).total_bytes


def compute(spec: ModelSpec, claim: Claim) -> Fraction | str:
    """The exact value of the claimed quantity."""
    chosen = checked_engine(claim)
    if claim.quantity == "attention":
        return attention_label(spec.num_query_heads, spec.num_kv_heads)
    if claim.quantity == "total_bytes":
        return Fraction(total_bytes(spec, claim))
    if claim.quantity == "mha_ratio":
        if not spec.per_head_kv:
            raise UsageError(f"claim {claim.id}: {spec.id} has no MHA form to compare with")
        mha = total_bytes(spec, claim, kv_heads=spec.num_query_heads)
        return Fraction(mha, total_bytes(spec, claim))
    fmt = kv_format(claim.kv_dtype)
    dep = deploy(spec, kv_heads=resolve_kv_heads(spec, None, claim.attention), engine=chosen)
    if claim.quantity == "layer_token_bytes":
        rows = [g for g in size(dep.stages[0], 1, 1, fmt, fmt, chosen).groups if g.cells]
        if not rows:
            raise UsageError(f"claim {claim.id}: {spec.id} has no attention layer")
        return Fraction(rows[0].layer_token_bytes)
    token_bytes = sum(dep.token_kv_bytes(fmt, fmt))
    tokens = chosen.pool_tokens(kv_budget(claim, chosen), token_bytes)
    return Fraction(tokens * token_bytes if claim.quantity == "engine_pool_bytes" else tokens)


def _judge(value: Fraction, published: Published) -> str:
    if value == published.value:
        return "exact"
    if abs(value - published.value) <= published.half_ulp:
        return "within rounding"
    return "off"


# The verdict rule, public for other checkers (kvcalc/doccheck.py judges figures in
# Markdown with it): one rule for claims.yaml and documents, so they cannot drift.
verdict = _judge


def reproductions(spec: ModelSpec, claim: Claim, published: Published) -> list[str]:
    """Single changes of the claim's configuration whose exact bytes round to the figure."""
    found: list[str] = []
    seq, batch = claim.seq or spec.max_context, claim.batch

    def check(label: str, value: int | Fraction) -> None:
        if len(found) < 3 and _judge(Fraction(value), published) != "off":
            found.append(label)

    exact = Fraction(total_bytes(spec, claim))
    check("the exact bytes in GiB printed as GB", exact * GB / GiB)
    check("the exact bytes in GB printed as GiB", exact * GiB / GB)
    for k in range(-6, 7):
        if k == 0:
            continue
        scaled_batch = Fraction(batch) * Fraction(2) ** k
        if scaled_batch.denominator == 1:
            b = int(scaled_batch)
            check(f"batch {b:,} instead of {batch:,}", total_bytes(spec, claim, batch=b))
        scaled_seq = Fraction(seq) * Fraction(2) ** k
        if scaled_seq.denominator == 1:
            s = int(scaled_seq)
            check(f"{s:,} tokens instead of {seq:,}", total_bytes(spec, claim, seq=s))
    if spec.per_head_kv:
        for g in divisors(spec.num_query_heads):
            check(f"{g} KV heads", total_bytes(spec, claim, kv_heads=g))
    for dtype in ("fp32", "fp16", "fp8", "int4"):
        if kv_format(dtype) != kv_format(claim.kv_dtype):
            check(f"a {dtype} cache", total_bytes(spec, claim, dtype=dtype))
    return found


def judge(spec: ModelSpec, claim: Claim) -> Outcome:
    value = compute(spec, claim)
    if isinstance(value, str):
        said = claim.published.strip()
        match = said == value or value.startswith(said + "-")  # 'GQA' names 'GQA-8'
        verdict = "exact" if match else "off"
        return Outcome(claim=claim, value=value, published=None, verdict=verdict, explanation="")
    published = read_published(claim.published)
    verdict = _judge(value, published)
    explanation = ""
    if verdict == "off" and claim.quantity == "total_bytes":
        found = reproductions(spec, claim, published)
        explanation = (
            "reproduced by " + "; or ".join(found)
            if found
            else "no single change of batch, length, KV heads, dtype or unit reproduces it"
        )
    return Outcome(
        claim=claim, value=value, published=published, verdict=verdict, explanation=explanation
    )


def check_file(file: str | None, warn: Callable[[str], None] | None = None) -> list[Outcome]:
    """Every claim in a claims YAML (default: the shipped configs/claims.yaml), judged."""
    from kvcalc.catalog import load_claims, load_model

    path = Path(file) if file is not None else default_claims_file()
    outcomes = []
    for claim in load_claims(path):
        try:
            outcomes.append(judge(load_model(claim.model, warn), claim))
        except UsageError as exc:  # name the claim: a file of fifty is otherwise a hunt
            raise UsageError(f"{path} claim {claim.id}: {exc}") from None
    return outcomes


def default_claims_file() -> Path:
    from kvcalc.catalog import configs_dir

    return configs_dir() / "claims.yaml"
