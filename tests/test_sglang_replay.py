"""SGLang's pool on the calibration logs (tests/data/engine_logs/sglang.yaml): the default
mem_fraction_static of each release, max_total_num_tokens from the memory the log says was
free, the K size it prints, and max_running_requests."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml

from kvcalc.engines.sglang_memory import (
    batch_defaults,
    max_running_requests,
    mem_fraction_static,
    pool_tokens,
    vlm_factor,
)
from tests.replay import DATA

GiB = 1 << 30
RECORDS = yaml.safe_load((DATA / "sglang.yaml").read_text())


def gib(value: float) -> Fraction:
    return Fraction(str(value))


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_default_mem_fraction_static(record):
    expected = record.get("mem_fraction_static")
    got = mem_fraction_static(record["gpu_mib"], record["tp"], 1, record["era"])
    if expected is not None:
        assert got == Fraction(expected)
    else:  # 24,564 MiB in 0.4.8: (24,564 - 2.9 x 1,024) / 24,564 = 0.8791 -> 0.879
        assert got == Fraction(879, 1000)


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_pool_tokens_from_the_logged_free_memory(record):
    # rest = after - pre x (1 - mfs); the log prints pre and after to 0.01 GiB, so the
    # tokens are known to (0.005 + 0.005 x (1 - mfs)) GiB / cell
    mfs = mem_fraction_static(record["gpu_mib"], record["tp"], 1, record["era"])
    pre, after = gib(record["pre_gib"]), gib(record["after_gib"])
    rest = (after - pre * (1 - mfs)) * GiB
    tokens = pool_tokens(int(rest), record["cell_bytes"], 1)
    band = (Fraction(5, 1000) * (2 - mfs)) * GiB / record["cell_bytes"] + 1
    assert abs(tokens - record["logged"]["tokens"]) <= band


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_k_size_line_from_the_logged_tokens(record):
    # every layer's K buffer has tokens + 1 padding slot: (444,500 + 1) x 65,536 B = 27.13 GiB
    k_bytes = (record["logged"]["tokens"] + 1) * record["k_token_bytes"]
    assert f"{k_bytes / GiB:.2f}" == f"{record['logged']['k_gib']:.2f}"


@pytest.mark.parametrize(
    "record", [r for r in RECORDS if "max_running_requests" in r["logged"]], ids=lambda r: r["id"]
)
def test_max_running_requests(record):
    got = max_running_requests(record["logged"]["tokens"], record["context_len"], record["era"])
    assert got == record["logged"]["max_running_requests"]


@pytest.mark.parametrize(
    "record", [r for r in RECORDS if "chunked_prefill_size" in r], ids=lambda r: r["id"]
)
def test_chunked_prefill_default(record):
    chunk, _ = batch_defaults(record["gpu_mib"], record["tp"], record["era"])
    assert chunk == record["chunked_prefill_size"]


def test_newer_defaults():
    # 0.5.3+ on an H100 (81,559 MiB, TP 1): reserved max(512 + 12,288 + 512 + 128, 10,240)
    # = 13,440 MiB -> round(68,119 / 81,559, 3) = 0.835 (the docs-ci log's era default)
    assert mem_fraction_static(81559, 1, 1, "0.5") == Fraction(835, 1000)
    # Kimi K2.5's MoonViT (27 x 1,152): 27 x 1,152^2 / (24 x 1,024^2) = 1.424, so it scales
    # by 0.95 x (1 - 0.1 x (1.424 - 1)) = 0.95 x 0.9576 = 0.9097
    assert float(vlm_factor(27, 1152)) == pytest.approx(0.9097, abs=1e-4)
