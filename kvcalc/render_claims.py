"""`kvcalc check` output: one row per claim, published beside computed, and the verdict."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kvcalc.claims import Outcome
from kvcalc.render import SCHEMA_VERSION, new_table
from kvcalc.units import fixed, unit_bytes


def computed_text(o: Outcome) -> str:
    """The exact value in the published unit, two digits finer than the source printed
    (or as printed when exact in that unit): 21,474,836,480 B vs '21.47 GB' -> 21.4748 GB."""
    if o.published is None:
        return str(o.value)
    p, value = o.published, Fraction(o.value)
    scale = 1 if p.unit in ("", "x") else unit_bytes(p.unit)
    exact = value % scale == 0
    text = fixed(value, scale, p.places if exact else p.places + 2)
    return text + ("x" if p.unit == "x" else f" {p.unit}" if p.unit else "")


def deviation_text(o: Outcome) -> str:
    """0 when exact, a percentage within rounding, a factor when off."""
    if o.published is None:
        return "-" if o.verdict == "exact" else "differs"
    if o.verdict == "exact":
        return "0"
    if not o.published.value:
        return "published 0"
    factor = Fraction(o.value) / o.published.value
    if o.verdict == "off":
        return f"x{float(factor):.2f}"
    return f"{float((factor - 1) * 100):+.3f}%"


def check_json(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "ok": all(o.ok for o in outcomes),
        "claims": [
            {
                "id": o.claim.id,
                "model": o.claim.model,
                "source": o.claim.source,
                "says": o.claim.says,
                "quantity": o.claim.quantity,
                "published": o.claim.published,
                "computed": computed_text(o),
                "exact_value": str(o.value),
                "deviation": deviation_text(o),
                "verdict": o.verdict,
                "expected": o.claim.expect,
                "ok": o.ok,
                "explanation": o.explanation,
                "note": o.claim.note,
            }
            for o in outcomes
        ],
    }


def check_tables(outcomes: list[Outcome]) -> list[Any]:
    table = new_table(
        "Documented claims recomputed (deviation: computed vs published)",
        "claim",
        "published",
        "computed",
        "deviation",
        "verdict",
        left=("claim", "published", "computed", "verdict"),
    )
    for o in outcomes:
        verdict = o.verdict if o.ok else f"[bold red]{o.verdict} (recorded: {o.claim.expect})[/]"
        table.add_row(o.claim.id, o.claim.published, computed_text(o), deviation_text(o), verdict)
    lines: list[Any] = [table]
    for o in outcomes:
        if o.explanation:
            lines.append(f"{o.claim.id}: {o.explanation}")
    bad = [o for o in outcomes if not o.ok]
    lines.append(
        f"{len(outcomes)} claims, all verdicts as recorded"
        if not bad
        else f"[bold red]{len(bad)} of {len(outcomes)} verdicts differ from the record[/bold red]"
    )
    return lines
