"""Tables and JSON for `kvcalc log` (units chosen here only)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kvcalc.log_check import Answer, LogCheck, Row
from kvcalc.render import SCHEMA_VERSION, new_table
from kvcalc.units import GiB, fixed

ENGINES = {
    "vllm": "vLLM",
    "sglang": "SGLang",
    "llamacpp": "llama.cpp",
    "tensorrt-llm": "TensorRT-LLM",
}


def shown(value: int | Fraction | None, unit: str) -> str:
    """A value as the engines print it: sizes in GiB to 2 decimals, counts with commas."""
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{fixed(value, GiB)} GiB"
    if unit == "x":
        return f"{fixed(value, 1)}x"
    return f"{int(value):,}"


def difference(row: Row) -> str:
    if row.predicted is None:
        return ""
    delta = Fraction(row.predicted) - Fraction(row.logged.value)
    if row.logged.unit == "bytes":
        return f"{'+' if delta >= 0 else '-'}{fixed(abs(delta), GiB)} GiB"
    if row.logged.unit == "x":
        return f"{'+' if delta >= 0 else '-'}{fixed(abs(delta), 1)}x"
    percent = fixed(Fraction(100 * delta, int(row.logged.value) or 1), 1)
    return f"{int(delta):+,} ({'+' if delta >= 0 else ''}{percent}%)"


def answer_text(a: Answer) -> str:
    """'requests of 8,192 tokens with --kv-cache-dtype fp8: 116 (kvcalc's accounting)'."""
    note = f" ({a.note})" if a.note else ""
    if a.value is None:
        flag = f" with {a.flag}" if a.flag else ""
        return f"{a.what}{flag}: {a.note or 'no'}"
    if isinstance(a.value, Fraction) and a.value.denominator != 1:
        number = fixed(a.value, 1)
    else:
        number = f"{int(a.value):,}"
    if a.flag.startswith("--gpu-memory") or a.flag.startswith("--mem-fraction"):
        return f"{a.what}: {a.flag} {number}{note}"
    if a.what.startswith("longest"):
        return f"{a.what}: {number} tokens{note}"
    flag = f" with {a.flag}" if a.flag else ""
    return f"{a.what}{flag}: {number}{note}"


def log_tables(check: LogCheck) -> list[Any]:
    log = check.log
    name = ENGINES.get(log.engine, log.engine)
    head = f"[bold]{name}{' ' + log.version if log.version else ''}[/bold] start-up log"
    head += f" ({log.lines:,} lines)"
    if check.model:
        head += f"; model {check.model}"
    if check.gpu:
        head += f"; GPU {check.gpu}"
    if check.profile and check.model:
        head += f"; held against kvcalc's {check.profile}"
    lines: list[Any] = [head]
    settings = {k: v for k, v in log.settings.items() if k != "concurrency_length"}
    if settings:
        lines.append("Settings it states: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
    table = new_table(
        "Memory figures", "figure", "logged", "kvcalc", "difference", "line", left=("figure",)
    )
    for row in check.rows:
        table.add_row(
            row.label,
            shown(row.logged.value, row.logged.unit),
            shown(row.predicted, row.logged.unit),
            difference(row),
            str(row.logged.line),
        )
    lines.append(table)
    if check.answers:
        lines.append("From the log's own measured terms:")
        lines += [f"  {answer_text(a)}" for a in check.answers]
    lines += [f"note: {n}" for n in check.notes]
    return lines


def number(value: int | Fraction | None) -> int | str | None:
    """JSON: integers stay integers; a ratio as the decimal the engine prints ('58.11')."""
    if value is None or isinstance(value, int):
        return value
    return str(value.numerator) if value.denominator == 1 else fixed(value, 1)


def log_json(check: LogCheck) -> dict[str, Any]:
    log = check.log
    return {
        "schema_version": SCHEMA_VERSION,
        "log_engine": log.engine,
        "log_version": log.version,
        "log_settings": [{"setting": k, "value": v} for k, v in log.settings.items()],
        "model": check.model,
        "gpu_preset": check.gpu,
        "engine": check.profile,
        "log_figures": [
            {
                "figure": r.logged.key,
                "label": r.label,
                "unit": r.logged.unit,
                "printed": r.logged.printed,
                "logged": number(r.logged.value),
                "predicted": number(r.predicted),
                "log_line": r.logged.line,
            }
            for r in check.rows
        ],
        "answers": [
            {"question": a.what, "answer": number(a.value), "flag": a.flag, "remark": a.note}
            for a in check.answers
        ],
        "remarks": list(check.notes),
    }
