"""Replay the calibration start-ups through kvcalc: shared by the replay tests and
`python -m tests.replay` (prints the table the issue asks for)."""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from kvcalc.budget import make_target
from kvcalc.catalog import load_hardware, load_model
from kvcalc.dtypes import kv_format, weight_format
from kvcalc.engines import engine
from kvcalc.fitting import FitResult, Question, fit_model

DATA = Path(__file__).parent / "data" / "engine_logs"
GiB = 1 << 30


def records(name: str = "vllm-0.19-h100.yaml") -> list[dict[str, Any]]:
    return yaml.safe_load((DATA / name).read_text())


def replay(record: dict[str, Any], measured_weights: bool) -> FitResult:
    """kvcalc's answer for one start-up: settings from the record; the logged 'Model
    loading took' figure as --weights when `measured_weights`, else weights predicted."""
    settings = {
        "max_model_len": record["max_model_len"],
        "max_num_seqs": record["max_num_seqs"],
        "max_num_batched_tokens": record["max_num_batched_tokens"],
    }
    fmt = kv_format(record["kv_dtype"])
    logged = record["logged"]["weights_gib"]
    question = Question(
        target=make_target(load_hardware(record["gpu"]), None, None),
        tp=record["tp"],
        pp=record["pp"],
        util=Fraction(record["util"]),
        weights=weight_format(record["weights"]),
        weight_bytes=round(Fraction(str(logged)) * GiB) if measured_weights else None,
        k_format=fmt,
        v_format=fmt,
        seq=record["max_model_len"],
        engine=engine(record["engine"], **settings),
    )
    return fit_model(load_model(record["model"]), question)


@dataclass(frozen=True)
class Row:
    id: str
    kv_logged: float
    kv_given: float
    """Available KV cache memory (GiB), logged weights given."""
    tokens_logged: int
    tokens_given: int
    tokens_predicted: int
    """GPU KV cache size with weights predicted too."""

    @property
    def kv_error(self) -> float:
        return self.kv_given - self.kv_logged

    @property
    def given_error(self) -> float:
        return 100 * (self.tokens_given - self.tokens_logged) / self.tokens_logged

    @property
    def predicted_error(self) -> float:
        return 100 * (self.tokens_predicted - self.tokens_logged) / self.tokens_logged


def row(record: dict[str, Any]) -> Row:
    given, predicted = replay(record, True), replay(record, False)
    assert given.pool is not None and predicted.pool is not None
    return Row(
        id=record["id"].removeprefix("vllm-planner-"),
        kv_logged=record["logged"]["kv_gib"],
        kv_given=given.budget.kv_bytes / GiB,
        tokens_logged=record["logged"]["kv_tokens"],
        tokens_given=given.pool.tokens,
        tokens_predicted=predicted.pool.tokens,
    )


def main() -> int:
    rows = [row(r) for r in records()]
    print(
        "| record | KV GiB logged | given | error | tokens logged | given | error % |"
        " weights predicted | error % |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.id} | {r.kv_logged:.2f} | {r.kv_given:.2f} | {r.kv_error:+.2f} | "
            f"{r.tokens_logged:,} | {r.tokens_given:,} | {r.given_error:+.2f} | "
            f"{r.tokens_predicted:,} | {r.predicted_error:+.2f} |"
        )
    for name, values in (
        ("KV GiB, weights given", [r.kv_error for r in rows]),
        ("tokens %, weights given", [r.given_error for r in rows]),
        ("tokens %, weights predicted", [r.predicted_error for r in rows]),
    ):
        absolute = [abs(v) for v in values]
        print(f"{name}: median {statistics.median(absolute):.3f}, max {max(absolute):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
