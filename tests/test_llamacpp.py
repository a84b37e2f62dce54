"""--engine llamacpp on presets and on llama.cpp's own flags: goldens with the arithmetic.

The tiny-GGUF recording is replayed in test_llamacpp_replay.py; these are the questions
issue 14 asked on real models, and how kvcalc's --seq/--batch map onto -c/-np.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kvcalc import api
from kvcalc.catalog import load_model
from kvcalc.dtypes import kv_format
from kvcalc.engines import engine
from kvcalc.errors import UsageError
from kvcalc.options import setup
from kvcalc.render_engine import log_lines
from kvcalc.sizing import engine_groups, size
from tests.conftest import FP16, make_spec


def lines(model: str, **options: object) -> list[str]:
    return log_lines(api.size(model, engine_name="llamacpp", **options).report)


def size_lines(printed: list[str]) -> list[str]:
    return [line for line in printed if line.startswith("llama_kv_cache: size =")]


def test_mistral_7b_v01_runs_every_layer_at_full_length():
    # llama arch: llama.cpp never reads sliding_window; 32 layers x 32,768 cells x 8 heads
    # x 128 x 2 B x 2 = 4,294,967,296 B = 4096.00 MiB (a 4,096 window read for these 4
    # slots would keep pad(4 x 4,096 + 512, 256) = 16,896 cells: 2,112 MiB)
    assert size_lines(lines("mistral-7b", seq=32768)) == [
        "llama_kv_cache: size = 4096.00 MiB ( 32768 cells,  32 layers,  4/1 seqs), "
        "K (f16): 2048.00 MiB, V (f16): 2048.00 MiB"
    ]
    # the ideal and vLLM profiles keep the model's window
    assert api.size("mistral-7b", seq=32768).total_bytes == 32 * 4096 * 4096


def test_phi3_window_is_switched_off():
    # Phi-3-mini's config says sliding_window 2047; llama.cpp disables Phi SWA (PR #13676):
    # 32 layers x 4,096 cells x 32 heads x 96 x 2 B x 2 = 1536.00 MiB
    assert size_lines(lines("phi-3-mini", seq=4096)) == [
        "llama_kv_cache: size = 1536.00 MiB (  4096 cells,  32 layers,  4/1 seqs), "
        "K (f16):  768.00 MiB, V (f16):  768.00 MiB"
    ]


def test_llama4_chunks_at_8192_whatever_the_spec_says():
    spec = make_spec(
        architecture="llama4",
        layers=[{"kind": "chunked", "count": 3, "chunk": 1000}, {"kind": "full", "count": 1}],
    )
    one = engine("llamacpp", parallel=1)
    result = size(engine_groups(spec, None, one), 65536, 1, FP16, FP16, one)
    # pad(8,192 + 512, 256) = 8,704 cells for the chunked layers, not pad(1,000 + 512)
    assert sorted({g.cells for g in result.groups}) == [8704, 65536]


def test_legacy_deepseek2_gguf_caches_full_per_head_k_and_v():
    # DeepSeek V2 Lite as an old GGUF: 16 heads x (192 K + 128 V) per token per layer
    # instead of the 512 + 64 latent: 27 x 4,096 x 16 x 320 x 2 B = 1,132,462,080 B
    legacy = load_model("deepseek-v2-lite").model_copy(update={"legacy_mla_gguf": True})
    assert api.size(legacy, engine_name="llamacpp", seq=4096).total_bytes == 1_132_462_080
    assert api.size("deepseek-v2-lite", engine_name="llamacpp", seq=4096).total_bytes == (
        27 * 4096 * 576 * 2
    )


def test_mla_refuses_different_k_and_v_types():
    with pytest.raises(UsageError, match=r"does not support different K \(q8_0\) and V \(f16\)"):
        api.size("deepseek-v3", engine_name="llamacpp", cache_type_k="q8_0", seq=4096)


def test_swa_cache_keeps_its_own_line_when_as_large_as_the_base():
    # Gemma 2 2B at 512 tokens: both caches 512 cells, 13 layers each
    printed = size_lines(lines("gemma-2-2b", seq=512))
    assert [line.split("(")[1].split(")")[0] for line in printed] == [
        "   512 cells,  13 layers,  4/1 seqs",
        "   512 cells,  13 layers,  4/1 seqs",
    ]


def test_b5400_allocates_sliding_layers_at_n_ctx():
    # May 2025: no SWA cache; n_ctx = pad(32,768, 32); every Mistral layer at full length
    assert api.size("mistral-7b", engine_name="llamacpp-b5400", seq=32768).total_bytes == (
        32 * 32768 * 4096
    )


@pytest.mark.parametrize(
    ("options", "n_seq_max", "unified", "cells"),
    [
        # no -np: llama-server's auto, 4 slots sharing -c = seq x requests = 8,192
        ({"seq": 4096, "batch": 2}, 4, True, 8192),
        # more requests than 4 raise the slots
        ({"seq": 1024, "batch": 8}, 8, True, 8192),
        # -np 2: one stream per slot, -c = seq x slots, pad(8,192 / 2, 256) each
        ({"seq": 4096, "parallel": 2}, 2, False, 4096),
        # -np 3 -kvu, 1 request: -c = seq x requests
        ({"seq": 4096, "parallel": 3, "kv_unified": True}, 3, True, 4096),
        # -c given: 1,000 -> 1,024 cells in one stream per slot
        ({"ctx_size": 1000, "parallel": 1}, 1, False, 1024),
    ],
)
def test_seq_and_batch_map_onto_c_and_np(options, n_seq_max, unified, cells):
    s = setup(engine_name="llamacpp", **options)
    batch = s.batch or 1
    seq = s.seq or s.engine.slot_tokens(batch)
    ctx = s.engine.context(seq, batch)
    assert (ctx.n_seq_max, ctx.unified, ctx.n_ctx_seq) == (n_seq_max, unified, cells)


def test_vocabulary_refuses_llamacpp_flags_elsewhere(run):
    result = run("size", "llama3-8b", "--engine", "vllm", "-np", "2")
    assert result.exit_code == 2 and "--parallel applies to llamacpp" in result.stderr
    result = run("size", "llama3-8b", "-ctk", "q8_0")
    assert result.exit_code == 2 and "--cache-type-k is llama.cpp's flag" in result.stderr
    result = run("fit", "llama3-8b", "--gpu", "h100", "--engine", "llamacpp", "-c", "4096")
    assert result.exit_code == 2 and "--ctx-size does not apply to 'fit'" in result.stderr
    result = run("size", "llama3-8b", "--engine", "llamacpp", "-no-kvu")
    assert result.exit_code == 2 and "needs --parallel" in result.stderr
    result = run("size", "llama3-8b", "--engine", "llamacpp", "-c", "4096", "--seq", "4096")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_cli_takes_llama_server_flags(run):
    data = run.json(
        "size",
        "gemma-2-9b",
        "--engine",
        "llamacpp",
        "-c",
        "32768",
        "-np",
        "2",
        "-ub",
        "256",
        "-fa",
        "on",
        "-ctk",
        "q8_0",
        "-ctv",
        "q8_0",
    )
    # 2 streams of 16,384 cells; SWA per stream pad(4,096 + 256, 256) = 4,352 cells
    assert (
        data["engine_report"][-1].startswith("llama_kv_cache: size =  ")
        and "(  4352 cells,  21 layers,  2/2 seqs), K (q8_0)" in data["engine_report"][-1]
    )
    assert data["seq"] == 16384  # the slot context, n_ctx_seq


def test_quantized_v_without_flash_attention_is_refused(run):
    result = run("size", "llama3-8b", "--engine", "llamacpp", "-fa", "off", "-ctv", "q4_0")
    assert result.exit_code == 2
    assert "quantized V cache requires flash_attn to be enabled" in result.stderr


def test_cache_type_names_are_ggml_names():
    s = setup(engine_name="llamacpp", cache_type_k="f16", cache_type_v="q4_0")
    assert (s.k_format, s.v_format) == (kv_format("fp16"), kv_format("q4_0"))


def test_docs_worked_example_prints_these_lines(run):
    readme = (Path(__file__).resolve().parents[1] / "docs" / "engines.md").read_text()
    command = "kvcalc size gemma-2-9b --engine llamacpp -c 32768 -np 2 -ub 256 -fa on"
    block = readme.split(command, 1)[1].split("```", 1)[0]
    shown = [line.strip() for line in block.splitlines()[1:] if line.strip()]
    assert len(shown) == 6
    out = run(*(command.split()[1:] + ["-ctk", "q8_0", "-ctv", "q8_0"])).stdout
    for line in shown:
        assert line in out


def test_b5400_takes_only_what_that_era_had():
    with pytest.raises(UsageError, match="--parallel, --swa-full: llamacpp-b5400"):
        setup(engine_name="llamacpp-b5400", parallel=2, swa_full=True)
    # -fa on pads n_ctx to 256 in that era: 35,000 -> 35,072 cells (32 without: 35,008)
    s = setup(engine_name="llamacpp-b5400", flash_attn="on", seq=35000)
    assert api.size("llama3-8b", setup=s).total_bytes == 35072 * 32 * 4096


def test_recurrent_rollback_snapshots_are_refused_not_guessed():
    spec = make_spec(
        architecture="lfm2",
        layers=[{"kind": "mamba", "count": 4, "d_inner": 64, "d_state": 4, "d_conv": 4}],
        num_query_heads=0,
        num_kv_heads=0,
    )
    s = setup(engine_name="llamacpp", seq=100)
    with pytest.raises(UsageError, match="n_rs_seq 2 on lfm2"):
        api.size(spec, setup=replace(s, engine=replace(s.engine, rs_seq=2)))


def test_kv_buffers_are_named_after_the_device_that_holds_them(run):
    # every layer on the GPU: llama.cpp's CUDA buffer type, CUDA0; on a RAM budget, CPU
    gpu = run("fit", "llama3-8b", "--gpu", "rtx4090", "--engine", "llamacpp").stdout
    assert "llama_kv_cache:      CUDA0 KV buffer size" in gpu
    cpu = run("fit", "llama3-8b", "--device", "cpu", "--mem", "64GB", "--engine", "llamacpp")
    assert "llama_kv_cache:        CPU KV buffer size" in cpu.stdout
