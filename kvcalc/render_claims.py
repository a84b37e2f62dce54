"""`kvcalc check` output: one row per claim, published beside computed, and the verdict."""

from __future__ import annotations

from typing import Any

from kvcalc.claims import Outcome
from kvcalc.render import new_table


def check_json(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "ok": all(o.ok for o in outcomes),
        "claims": [
            {
                "id": o.claim.id,
                "model": o.claim.model,
                "source": o.claim.source,
                "says": o.claim.says,
                "quantity": o.claim.quantity,
                "published": o.claim.published,
                "computed": o.computed,
                "deviation": o.deviation,
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
    for column in table.columns[:3]:
        column.no_wrap, column.overflow = False, "fold"  # wrap in 80 columns, never cut
    for o in outcomes:
        verdict = o.verdict if o.ok else f"[bold red]{o.verdict} (recorded: {o.claim.expect})[/]"
        table.add_row(o.claim.id, o.claim.published, o.computed, o.deviation, verdict)
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
