"""kvcalc.logs and `kvcalc log`: every calibration record's lines read, figures found where
the engines print them, a log without a memory line refused with what was expected."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml

from kvcalc.errors import UsageError
from kvcalc.logs import read_log
from tests.replay import DATA


def run_app():
    from kvcalc.cli import app

    return app


GiB = 1 << 30
RECORDS = yaml.safe_load((DATA / "startup-log-lines.yaml").read_text())
LLAMA = next(r for r in RECORDS if r["id"].endswith("llama-3-1-8b---h100-80gb--tp1pp1dp1--8192"))


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_every_calibration_record_reads(record):
    log = read_log("\n".join(record["log_lines"]))
    assert log.figures  # at least one memory figure
    assert log.engine == record["engine"]


def test_vllm_019_figures_and_settings():
    # llm-d-incubation/llm-d-planner PR #205, meta-llama-llama-3-1-8b---h100-80gb--tp1pp1dp1
    log = read_log("\n".join(LLAMA["log_lines"]))
    assert log.version == "0.19.0"
    assert log.value("kv_bytes") == round(Fraction("58.11") * GiB)  # 62,395,137,393 B
    assert log.value("kv_tokens") == 476_016
    assert log.value("concurrency") == Fraction("58.11")
    assert log.value("non_torch") == round(Fraction("0.25") * GiB)  # not the snapshot's 0.51
    assert log.value("init_used") == round(Fraction("0.51") * GiB)
    assert log.settings["gpu_memory_utilization"] == "0.95"
    assert log.settings["max_num_batched_tokens"] == "8192"  # the DEBUG defaults line
    assert log.settings["max_num_seqs"] == "1024"


def test_sglang_figures():
    record = next(r for r in RECORDS if r["id"] == "sglang-llmsinclouds-qwq32b-4xL4")
    log = read_log("\n".join(record["log_lines"]))
    assert log.engine == "sglang" and not log.sglang_05
    assert log.value("kv_tokens") == 46_611
    assert log.value("pre_free") == round(Fraction("21.63") * GiB)
    assert log.value("max_running_requests") == 2049
    assert log.settings["mem_fraction_static"] == "0.85"


def test_mla_kv_size_is_not_read_as_v_size():
    log = read_log("KV Cache is allocated. #tokens: 2454421, KV size: 160.63 GB")
    assert log.value("kv_bytes") == round(Fraction("160.63") * GiB)
    assert log.get("v_bytes") is None


def test_llamacpp_lines():
    text = (
        "load_tensors:        CUDA0 model buffer size =  4403.49 MiB\n"
        "llama_kv_cache: size = 1024.00 MiB (  8192 cells,  32 layers,  1/1 seqs), "
        "K (f16):  512.00 MiB, V (f16):  512.00 MiB\n"
        "llama_context:      CUDA0 compute buffer size =   560.00 MiB\n"
    )
    log = read_log(text)
    assert log.engine == "llamacpp"
    assert log.value("kv_bytes") == 1024 << 20 and log.value("kv_tokens") == 8192
    assert log.value("k_bytes") == 512 << 20 and log.value("compute") == 560 << 20


@pytest.mark.parametrize("text", ["", "INFO starting server\nno numbers here\n"])
def test_no_memory_line_is_an_error_saying_what_was_expected(text):
    with pytest.raises(UsageError, match="Available KV cache memory"):
        read_log(text)


def test_log_command_compares_and_answers(run, tmp_path):
    path = tmp_path / "vllm.log"
    path.write_text("\n".join(LLAMA["log_lines"]))
    result = run("log", str(path), "--seq", "32768", "--batch", "20")
    assert result.exit_code == 0, result.stderr
    assert "held against kvcalc's vllm-0.19" in result.stdout
    assert "476,016" in result.stdout and "475,984" in result.stdout
    # 476,016 tokens // 32,768 = 14 requests; fp8 halves the bytes per token: 29
    assert "requests of 32,768 tokens: 14" in result.stdout
    assert "with --kv-cache-dtype fp8: 29" in result.stdout


def test_log_command_json(run, tmp_path):
    path = tmp_path / "vllm.log"
    path.write_text("\n".join(LLAMA["log_lines"]))
    data = run.json("log", str(path))
    kv = next(f for f in data["log_figures"] if f["figure"] == "kv_bytes")
    assert kv["printed"] == "58.11" and kv["logged"] == 62_395_137_393
    # with the logged 14.99 GiB of weights: ceil(85,029,158,912 x 0.95) = 80,777,700,967
    # - round(14.99 GiB) 16,095,389,942 - torch peak 2,023,837,696 - non-torch 0.25 GiB
    # 268,435,456 = 62,390,037,873
    assert kv["predicted"] == 62_390_037_873
    assert data["engine"] == "vllm-0.19" and data["model"] == "llama3.1-8b"


def test_log_command_refuses_a_log_without_memory_lines(run, tmp_path):
    path = tmp_path / "empty.log"
    path.write_text("INFO: started\n")
    result = run("log", str(path))
    assert result.exit_code == 2 and "no memory line" in result.stderr
    # nothing in it names an engine, so the message names none
    assert "vllm log" not in result.stderr and "no engine's markers" in result.stderr


def test_log_command_reads_stdin(run):
    result = run.runner.invoke(run_app(), ["log", "-"], input="GPU KV cache size: 42,656 tokens\n")
    assert result.exit_code == 0 and "42,656" in result.stdout


def test_log_command_refuses_a_directory_and_a_missing_file(run, tmp_path):
    for target in (tmp_path, tmp_path / "missing.log"):
        result = run("log", str(target))
        assert result.exit_code == 2 and str(target) in result.stderr


def test_log_command_refuses_an_oversized_stdin(run, monkeypatch):
    import kvcalc.limits

    monkeypatch.setattr(kvcalc.limits, "MAX_TEXT_FILE_BYTES", 64)
    result = run.runner.invoke(run_app(), ["log", "-"], input="x" * 65)
    assert result.exit_code == 2 and "stdin: more than 64 bytes" in result.stderr


def test_the_longest_request_is_capped_at_the_models_context():
    # the pool holds 476,016 tokens, but vLLM refuses --max-model-len over Llama 3.1's
    # 131,072 (vllm/config/model.py, _get_and_verify_max_len)
    from kvcalc.catalog import load_model
    from kvcalc.log_check import longest_request

    spec = load_model("llama3.1-8b")
    capped = longest_request(476_016, spec, "vllm")
    assert capped.value == 131_072 and capped.flag == "--max-model-len"
    assert "the pool holds 476,016" in capped.note
    assert longest_request(46_611, None, "sglang").flag == "--context-length"
    assert longest_request(46_611, None, "sglang").value == 46_611


def test_a_target_when_no_request_fits_is_one_not_twice_none(run):
    # QwQ-32B on 4 x L4: a pool of 46,611 tokens holds no request of its 131,072-token
    # context (46,611 // 131,072 = 0), so the target is one request, said as such
    text = run("log", "tests/data/engine_logs/sglang-0.4-qwq32b-4xl4.log").stdout
    assert "requests of 131,072 tokens: 0" in text
    assert "target (give --batch): 1 (one: none fits)" in text
    assert "1 request of 131,072 tokens" in text and "1 requests" not in text
