"""`kvcalc models`: presets by family, and one spec in full."""

from __future__ import annotations

from typing import Any

from kvcalc.render import SCHEMA_VERSION, count, new_table
from kvcalc.render_grid import Grid
from kvcalc.spec import ModelSpec
from kvcalc.units import fixed


def model_row(spec: ModelSpec, bytes_per_token: int, user: bool = False) -> dict[str, Any]:
    return {
        "id": spec.id,
        "user_preset": user,
        "name": spec.name,
        "family": spec.family,
        "num_layers": spec.num_layers,
        "num_query_heads": spec.num_query_heads,
        "num_kv_heads": spec.num_kv_heads if spec.per_head_kv else None,
        "k_head_dim": spec.k_head_dim,
        "v_head_dim": spec.resolved_v_head_dim,
        "attention": spec.attention_kind,
        "kv_bytes_per_token_fp16": bytes_per_token,
        "model_max_context": spec.max_context,
        "params": spec.params,
        "weight_dtype": spec.weight_dtype,
    }


def models_json(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "models": rows}


MODEL_COLUMNS = (
    ("id", "id"),
    ("L", "num_layers"),
    ("H", "num_query_heads"),
    ("KV", "num_kv_heads"),
    ("d", "k_head_dim"),
    ("attention", "attention"),
    ("B/token", "kv_bytes_per_token_fp16"),
    ("ctx", "model_max_context"),
)


def models_table(rows: list[dict[str, Any]]) -> list[Any]:
    """One table per family, in the catalog's order."""
    out: list[Any] = [
        "Model presets: L layers, H query heads, KV heads (- for MLA/recurrent), d head dim, "
        "B/token = KV bytes of one token in every layer at fp16, ctx = max context"
    ]
    families = list(dict.fromkeys(row["family"] for row in rows))
    for family in families:
        table = new_table(family, *(title for title, _ in MODEL_COLUMNS), left=("id", "attention"))
        for row in (r for r in rows if r["family"] == family):
            cells = [cell(key, row[key]) for _, key in MODEL_COLUMNS]
            cells[0] += " *" if row["user_preset"] else ""
            table.add_row(*cells)
        out.append(table)
    if any(row["user_preset"] for row in rows):
        from kvcalc.userdir import models_dir

        out.append(f"* your own preset, in {models_dir()} (kvcalc import SRC --save)")
    return out


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "params":
        return f"{fixed(value, 10**9)}B"  # a parameter count in billions, not bytes
    return count(value) if isinstance(value, int) else str(value)


def model_detail_json(spec: ModelSpec, bytes_per_token: int) -> dict[str, Any]:
    """The spec as stored, with the model's limit named as everywhere else, and the
    resolved head widths instead of the optional head_dim/v_head_dim fields."""
    stored = spec.model_dump(mode="json")
    for key in ("head_dim", "v_head_dim", "max_context", "num_layers"):
        stored.pop(key)
    stored["checkpoint_bytes"] = stored.pop("weight_bytes")  # the exact tensor bytes, or None
    row = model_row(spec, bytes_per_token)
    row.pop("user_preset")  # a list marks the user's presets; one spec is shown as it is
    return {
        "schema_version": SCHEMA_VERSION,
        **row,
        **{k: v for k, v in stored.items() if k not in ("id", "name")},
    }


def model_detail(spec: ModelSpec, bytes_per_token: int) -> list[Any]:
    table = Grid(f"{spec.id}: {spec.name or ''}", ("field", "value"), left=("field",))
    table.prose, table.show_header = ("value",), False
    for key, value in spec.model_dump(exclude_none=True).items():
        if key in ("sources", "notes", "aliases", "layers"):
            continue
        table.add_row(key, count(value) if isinstance(value, int) else str(value))
    table.add_row("head_dim (resolved)", f"{spec.k_head_dim} (K) / {spec.resolved_v_head_dim} (V)")
    table.add_row("attention", spec.attention_kind)
    table.add_row("KV bytes / token (fp16)", f"{count(bytes_per_token)} B")
    if spec.layers:
        for i, group in enumerate(spec.layers):
            table.add_row(
                f"layers[{i}]", ", ".join(f"{k}={v}" for k, v in group.model_dump().items())
            )
    for key in ("aliases", "sources", "notes"):
        for i, item in enumerate(getattr(spec, key)):
            table.add_row(key if i == 0 else "", item)
    return [table]
