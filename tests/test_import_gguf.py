"""GGUF metadata -> spec, on small files built with the gguf package's own writer."""

import numpy as np
import pytest
from gguf import GGUFWriter, LlamaFileType

from kvcalc.catalog import load_model
from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.gguf_file import spec_from_gguf
from kvcalc.layers import expand
from kvcalc.sizing import size
from tests.conftest import FP16


def write(path, arch, *, layers, heads, kv, hidden, context=4096, extra=(), tensors=True):
    writer = GGUFWriter(str(path), arch)
    writer.add_name("test-model")
    writer.add_block_count(layers)
    writer.add_head_count(heads)
    if kv is not None:
        writer.add_head_count_kv(kv)
    writer.add_embedding_length(hidden)
    if context is not None:
        writer.add_context_length(context)
    writer.add_file_type(LlamaFileType.MOSTLY_F16)
    for method, value in extra:
        getattr(writer, method)(value)
    if tensors:
        writer.add_tensor("token_embd.weight", np.zeros((8, 16), dtype=np.float16))  # 128 values
        writer.add_tensor("output.weight", np.zeros((4, 16), dtype=np.float32))  # 64 values
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def bytes_at(spec, seq):
    return size(expand(spec), seq, 1, FP16, FP16).total_bytes


def test_llama3_70b_shape(tmp_path):
    path = write(
        tmp_path / "llama.gguf", "llama", layers=80, heads=64, kv=8, hidden=8192, context=8192
    )
    spec, notes = spec_from_gguf(path)
    assert bytes_at(spec, 2048) == bytes_at(load_model("llama3-70b"), 2048) == 327_680 * 2048
    assert (spec.max_context, spec.weight_dtype, spec.name) == (8192, "fp16", "test-model")
    # tensors: 8 x 16 fp16 + 4 x 16 fp32 = 128 + 64 = 192 values; 256 + 256 = 512 bytes
    assert (spec.params, spec.weight_bytes) == (192, 512)
    assert notes == []


def test_key_and_value_lengths(tmp_path):
    path = write(
        tmp_path / "m.gguf",
        "llama",
        layers=2,
        heads=8,
        kv=2,
        hidden=512,
        extra=[("add_key_length", 192), ("add_value_length", 128)],
    )
    spec, _ = spec_from_gguf(path)
    # 2 layers x 2 heads x (192 + 128) x 2 bytes = 2,560 B per token
    assert (spec.k_head_dim, spec.resolved_v_head_dim) == (192, 128)
    assert bytes_at(spec, 1) == 2 * 2 * (192 + 128) * 2


def test_gemma3_pattern_from_code(tmp_path):
    # llama.cpp fixes Gemma 3's pattern at 6 in code: 10 global + 52 local layers of 62
    path = write(
        tmp_path / "g3.gguf",
        "gemma3",
        layers=62,
        heads=32,
        kv=16,
        hidden=5376,
        context=131072,
        extra=[("add_key_length", 128), ("add_value_length", 128), ("add_sliding_window", 1024)],
    )
    spec, _ = spec_from_gguf(path)
    assert bytes_at(spec, 131_072) == bytes_at(load_model("gemma-3-27b"), 131_072) == 11_173_625_856


def test_per_layer_kv_heads_and_explicit_pattern(tmp_path):
    path = write(
        tmp_path / "m.gguf",
        "llama",
        layers=4,
        heads=8,
        kv=[8, 4, 8, 4],
        hidden=512,
        extra=[
            ("add_sliding_window", 16),
            ("add_sliding_window_pattern", [True, False, True, False]),
        ],
    )
    spec, _ = spec_from_gguf(path)
    # 64-dim heads: layers 0, 2 slide (8 heads, 16 tokens), 1, 3 are full (4 heads)
    per_head_token = 64 * 2 * 2
    expected = 2 * 8 * per_head_token * 16 + 2 * 4 * per_head_token * 100
    assert bytes_at(spec, 100) == expected


def test_mla(tmp_path):
    path = write(
        tmp_path / "ds.gguf",
        "deepseek2",
        layers=61,
        heads=128,
        kv=128,
        hidden=7168,
        context=163840,
        extra=[
            ("add_kv_lora_rank", 512),
            ("add_rope_dimension_count", 64),
            ("add_key_length", 576),
            ("add_value_length", 512),
            ("add_key_length_mla", 192),
            ("add_value_length_mla", 128),
        ],
    )
    spec, _ = spec_from_gguf(path)
    assert bytes_at(spec, 2048) == 61 * 576 * 2 * 2048 == 70_272 * 2048


def test_recurrent_layers(tmp_path):
    # kv heads 0 marks a Mamba layer: 8 layers, attention at 4, as Jamba's pattern
    kv = [0, 0, 0, 0, 8, 0, 0, 0]
    path = write(
        tmp_path / "j.gguf",
        "jamba",
        layers=8,
        heads=32,
        kv=kv,
        hidden=4096,
        extra=[
            ("add_ssm_inner_size", 8192),
            ("add_ssm_state_size", 16),
            ("add_ssm_conv_kernel", 4),
        ],
    )
    result = size(expand(spec_from_gguf(path)[0]), 10, 1, FP16, FP16)
    assert result.state_bytes == 7 * (8192 * 3 + 8192 * 16) * 2
    assert result.k_bytes + result.v_bytes == 10 * 8 * 128 * 2 * 2


def test_qwen3next_state_by_interval_matches_the_preset(tmp_path):
    # Qwen3-Next as convert_hf_to_gguf writes it: one head_count_kv for every layer, the
    # recurrent layers being all but every 4th; ssm.state_size = key head dim 128,
    # group_count = 16 key heads, time_step_rank = 32 value heads, inner 32 x 128
    path = write(
        tmp_path / "q.gguf",
        "qwen3next",
        layers=48,
        heads=16,
        kv=2,
        hidden=2048,
        context=262144,
        extra=[
            ("add_key_length", 256),
            ("add_value_length", 256),
            ("add_ssm_inner_size", 4096),
            ("add_ssm_state_size", 128),
            ("add_ssm_conv_kernel", 4),
            ("add_ssm_group_count", 16),
            ("add_ssm_time_step_rank", 32),
            ("add_full_attention_interval", 4),
        ],
    )
    spec, _ = spec_from_gguf(path)
    assert spec.architecture == "qwen3next"
    # as the preset: 36 DeltaNet layers x (8,192 x 3 + 32 x 128 x 128) x 2 B of state, plus
    # 12 attention layers x 2 KV heads x 256 x 2 B x 2 (K, V) = 24,576 B per token
    assert bytes_at(spec, 1000) == bytes_at(load_model("qwen3-next-80b-a3b"), 1000)


def test_other_recurrent_architectures_are_refused_not_guessed(tmp_path):
    # nemotron_h marks its Mamba-2 layers by head_count_kv 0 too, but kvcalc does not read
    # its mixer's state from GGUF
    path = write(
        tmp_path / "n.gguf",
        "nemotron_h",
        layers=4,
        heads=16,
        kv=[0, 0, 0, 2],
        hidden=2048,
        extra=[("add_ssm_inner_size", 4096), ("add_ssm_state_size", 128)],
    )
    with pytest.raises(SpecError, match="recurrent layer of architecture 'nemotron_h'"):
        spec_from_gguf(path)


def test_missing_context_warns(tmp_path):
    path = write(tmp_path / "m.gguf", "llama", layers=2, heads=8, kv=None, hidden=512, context=None)
    spec, notes = spec_from_gguf(path)
    assert spec.num_kv_heads == 8 and spec.max_context == 2048 and "2,048" in notes[0]


@pytest.mark.parametrize(
    "content", [b"", b"GGUF", b"not a gguf file at all" * 10, bytes(range(256)) * 40]
)
def test_garbage_is_one_clean_error(tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(SpecError, match="not a readable GGUF file"):
        spec_from_gguf(path)


def test_truncated_file(tmp_path):
    path = write(tmp_path / "m.gguf", "llama", layers=2, heads=8, kv=2, hidden=512)
    data = path.read_bytes()
    for cut in (10, 40, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.gguf").write_bytes(data[:cut])
        with pytest.raises(SpecError):
            spec_from_gguf(tmp_path / "cut.gguf")


def test_missing_fields(tmp_path):
    writer = GGUFWriter(str(tmp_path / "m.gguf"), "llama")
    writer.add_block_count(2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(SpecError, match="missing llama.attention.head_count"):
        spec_from_gguf(tmp_path / "m.gguf")


def test_missing_file():
    with pytest.raises(UsageError, match="no such file"):
        spec_from_gguf(__import__("pathlib").Path("/nonexistent/x.gguf"))


def test_cli(run, tmp_path):
    path = write(
        tmp_path / "llama.gguf", "llama", layers=32, heads=32, kv=8, hidden=4096, context=8192
    )
    data = run.json("size", str(path), "--seq", "8192")
    assert data["total_bytes"] == 131_072 * 8192
    fit = run.json("fit", str(path), "--mem", "24GB")
    assert fit["budget"]["weight_format"] == "checkpoint" and fit["budget"]["weight_bytes"] == 512
    (tmp_path / "junk.gguf").write_bytes(b"junk")
    bad = run("size", str(tmp_path / "junk.gguf"))
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def forged(elem_type, count):
    """A GGUF v3 header whose one metadata array claims `count` elements it does not have."""
    import struct

    key = b"general.huge"
    return (
        b"GGUF"
        + struct.pack("<IQQ", 3, 0, 1)
        + struct.pack("<Q", len(key))
        + key
        + struct.pack("<IIQ", 9, elem_type, count)
        + b"\0" * 64
    )


@pytest.mark.parametrize("elem_type, count", [(0, 2**40), (8, 2**33), (4, 2**31), (9, 2**20)])
def test_forged_array_lengths_are_refused_before_reading(tmp_path, elem_type, count):
    # the gguf reader would loop or allocate for the declared count; the header walk refuses it
    path = tmp_path / "forged.gguf"
    path.write_bytes(forged(elem_type, count))
    with pytest.raises(SpecError, match="not a readable GGUF file"):
        spec_from_gguf(path)


def test_import_reads_gguf_and_presets_too(run, tmp_path):
    path = write(tmp_path / "llama.gguf", "llama", layers=32, heads=32, kv=8, hidden=4096)
    out = run("import", str(path))
    assert (
        out.exit_code == 0 and "num_kv_heads: 8" in out.stdout and "weight_bytes: 512" in out.stdout
    )
    assert "num_layers: 80" in run("import", "llama3-70b").stdout


@pytest.mark.parametrize("name", ["_model.gguf", "модель.gguf", "Llama 3 (8B).gguf"])
def test_any_file_name_gives_a_valid_id(tmp_path, name):
    spec, _ = spec_from_gguf(write(tmp_path / name, "llama", layers=2, heads=8, kv=2, hidden=512))
    assert spec.id[0].isascii() and spec.id[0].isalnum()


def test_a_header_read_from_its_first_bytes(tmp_path):
    # the Hub reader parses growing prefixes of a file: every prefix that ends inside the
    # header asks for more (Truncated, with how far it got), the full header gives the same
    # answer as the file, and a prefix never passes for a whole (shorter) file
    from kvcalc.importers.gguf_read import Truncated, read_gguf, read_header

    path = write(tmp_path / "m.gguf", "llama", layers=2, heads=8, kv=2, hidden=512)
    data = path.read_bytes()
    whole = read_gguf(path)
    cut = 0
    for cut in range(0, len(data)):
        try:
            parsed = read_header(data[:cut], path, len(data))
            break
        except Truncated as short:
            assert cut < short.needed <= len(data)
    assert parsed == whole and cut < len(data)  # the tensor data itself was not needed
    with pytest.raises(SpecError, match="a length runs past the end") as refused:
        read_header(data[: cut - 1], path, cut - 1)  # as if the file ended there
    assert not isinstance(refused.value, Truncated)
