"""Partial offload (kvcalc/offload.py): placement, buffers per device, the -ngl answers.

The CPU side is checked against the recording (CPU_Mapped model buffers of all 33
models, and the compute-buffer estimate against 712 measured compute buffers); the
GPU side follows llama.cpp's source and was not run on a GPU.
"""

from __future__ import annotations

import pytest

from kvcalc import api
from kvcalc.dtypes import kv_format
from kvcalc.engines import engine
from kvcalc.errors import UsageError
from kvcalc.offload import (
    buffer_bytes,
    compute_estimate,
    layer_memory,
    offload,
    placement,
    solve_offload,
)
from kvcalc.options import setup
from kvcalc.render_engine import log_lines
from tests.conformance.llamacpp import replay
from tests.conftest import FP16

DOC = replay.load_data()
MiB = 2**20


def test_ngl_places_the_last_layers_and_the_head():
    # 32 layers: -ngl 10 = layers 23..31 and the head (i_gpu_start = 32 + 1 - 10 = 23)
    where = placement(32, 10)
    assert (where.gpu_start, where.output_on_gpu) == (23, True)
    assert [i for i in range(-1, 33) if where.on_gpu(i)] == [*range(23, 32), 32]
    assert placement(32, 1).gpu_start == 32  # the head alone
    assert not any(placement(32, 0).on_gpu(i) for i in range(-1, 33))
    assert placement(32, -2).gpu_start == 0 == placement(32, 99).gpu_start  # all
    assert not placement(32, -2).on_gpu(-1)  # the input embeddings stay on the CPU


@pytest.mark.parametrize("model", sorted(DOC["models"]))
def test_cpu_mapped_model_buffer_is_the_file_span(recorded_specs, model):
    # -ngl 0: llama.cpp maps the file from the first tensor byte to the last one
    recorded = [line for line in DOC["models"][model]["lines"] if "model buffer size" in line]
    split = offload(recorded_specs[model], engine("llamacpp"), 4096, 1, FP16, FP16, 0)
    mib = split.cpu.model_bytes / MiB
    assert recorded == [f"load_tensors: {'CPU_Mapped':>12s} model buffer size = {mib:8.2f} MiB"]


def test_compute_estimate_bounds_every_recorded_compute_buffer(recorded_specs):
    # 712 loads: the estimate is never below llama.cpp's measured CPU compute buffer, and
    # above it by 0.12-9.93 MiB (median 1.32 MiB) on these tiny (64-token vocabulary) models
    over = []
    for load in DOC["loads"]:
        if load["outcome"] != "loaded":
            continue
        text = next(line for line in load["lines"] if "compute buffer size" in line)
        measured = float(text.split("=")[1].split()[0]) * MiB
        s = setup(**replay.kvcalc_options(load["settings"]))
        spec = recorded_specs[load["model"]]
        seq = s.engine.slot_tokens(1)
        layers = layer_memory(spec, s.engine, seq, 1, s.k_format, s.v_format)
        over.append(compute_estimate(spec, s.engine, seq, 1, layers) - measured)
    assert len(over) == 712
    assert min(over) > 0 and max(over) < 10 * MiB


def test_cuda_buffers_pad_quantized_rows_to_512_values_and_128_bytes():
    q8 = kv_format("q8_0")
    # a q8_0 K tensor of 1,000 cells x 96 values: 1,000 x 102 B = 102,000 B on the CPU,
    # padded to 32: 102,016; on CUDA one row of 512 - 96 = 416 values (13 blocks, 442 B) more,
    # then to 128: 102,442 -> 102,528
    tensors = ((1000 * 102, 96, q8),)
    assert buffer_bytes(tensors, "CPU") == 102_016
    assert buffer_bytes(tensors, "CUDA0") == 102_528


def test_most_layers_is_exact(recorded_specs):
    spec = recorded_specs["llama_hd96_deep"]  # 30 layers
    one = engine("llamacpp", parallel=1, flash_attn="on")
    budget = 30 * MiB
    a = solve_offload(spec, one, seq=1024, batch=1, k_fmt=FP16, v_fmt=FP16, budget=budget, margin=0)
    assert a.asked == "layers" and 0 < a.n_gpu_layers < 31 and a.fits
    more = offload(spec, one, 1024, 1, FP16, FP16, a.n_gpu_layers + 1)
    assert more.gpu.total_bytes > budget


def test_longest_context_for_ngl_is_exact(recorded_specs):
    spec = recorded_specs["gemma3"]
    ten = engine("llamacpp", parallel=1, flash_attn="on", n_gpu_layers=5)
    budget = 20 * MiB
    a = solve_offload(spec, ten, seq=None, batch=1, k_fmt=FP16, v_fmt=FP16, budget=budget, margin=0)
    assert a.asked == "context" and a.fits
    assert offload(spec, ten, a.seq + 1, 1, FP16, FP16, 5).gpu.total_bytes > budget


def test_fit_answers_with_each_device(run, tmp_path):
    path = tmp_path / "gemma3.gguf"
    from tests.conformance.llamacpp.models import by_name

    by_name()["gemma3"].build(path).write()
    out = run(
        "fit",
        str(path),
        "--engine",
        "llamacpp",
        "--mem",
        "20MiB",
        "-np",
        "1",
        "--seq",
        "4096",
        "--overhead",
        "2MiB",
    ).stdout
    assert "Most layers on the GPU for 4,096 tokens" in out
    assert "CUDA0 KV buffer size" in out and "CPU_Mapped model buffer size" in out
    data = run.json(
        "fit",
        str(path),
        "--engine",
        "llamacpp",
        "--mem",
        "20MiB",
        "-ngl",
        "4",
        "-np",
        "1",
        "--overhead",
        "2MiB",
    )
    assert data["offload"]["asked"] == "context" and data["offload"]["n_gpu_layers"] == 4


def test_ngl_needs_a_gguf_and_a_gpu(run):
    result = run("fit", "llama3-8b", "--engine", "llamacpp", "--gpu", "rtx4090", "-ngl", "20")
    assert result.exit_code == 2 and "give the .gguf file" in result.stderr
    with pytest.raises(UsageError, match="tensor table"):
        api.size("llama3-8b", engine_name="llamacpp", n_gpu_layers=10)


def test_size_with_ngl_prints_each_device(recorded_specs):
    spec = recorded_specs["jamba"]
    answer = api.size(spec, engine_name="llamacpp", parallel=1, n_gpu_layers=4, seq=4096)
    printed = log_lines(answer.report)
    assert "load_tensors: offloaded 4/9 layers to GPU" in printed
    # layers 5..7 on the GPU: attention layer 6 there, attention layer 2 on the CPU; one
    # attention layer of the fixture (archs_state.py) is 4,096 cells x 2 KV heads x 48 x
    # 2 (K, V) x 2 B = 1,572,864 B = 1.50 MiB
    assert "llama_kv_cache:        CPU KV buffer size =     1.50 MiB" in printed
    assert "llama_kv_cache:      CUDA0 KV buffer size =     1.50 MiB" in printed
