"""CliRunner tests of every command, the JSON contract, and the error contract."""

import pytest


def test_size_headline_table(run):
    result = run("size", "llama3-70b", "--seq", "2048", "--batch", "32")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "21,474,836,480 B = 21.47 GB / 20.00 GiB" in out
    assert "171.80 GB" in out and "160.00 GiB" in out  # MHA
    assert "2.68 GB" in out and "2.50 GiB" in out  # MQA
    assert "8x" in out and "64x" in out
    assert "K 10,737,418,240 B + V 10,737,418,240 B" in out


def test_size_json_contract(run):
    data = run.json("size", "llama3-70b", "--seq", "2048", "--batch", "32")
    assert {k: data[k] for k in ("model", "seq", "batch", "kv_dtype", "kv_heads")} == {
        "model": "llama3-70b",
        "seq": 2048,
        "batch": 32,
        "kv_dtype": "fp16",
        "kv_heads": 8,
    }
    assert data["bytes_per_token"] == 327_680
    assert data["bytes_per_request"] == 671_088_640
    assert data["total_bytes"] == 21_474_836_480
    assert data["k_bytes"] + data["v_bytes"] == data["total_bytes"]
    variants = {v["form"]: v for v in data["variants"]}
    assert variants["mha"]["kv_heads"] == 64 and variants["mha"]["total_bytes"] == 171_798_691_840
    assert variants["mqa"]["kv_heads"] == 1 and variants["mqa"]["total_bytes"] == 2_684_354_560
    assert variants["configured"]["mha_ratio"] == 8.0
    assert data["groups"][0] == {
        "kind": "full",
        "count": 80,
        "num_kv_heads": 8,
        "k_head_dim": 128,
        "v_head_dim": 128,
        "tokens_held": 2048,
        "cells": 2048 * 32,  # ideal: every request keeps its 2,048 tokens
        "k_token_bytes": 2048,
        "v_token_bytes": 2048,
        "k_bytes": 10_737_418_240,
        "v_bytes": 10_737_418_240,
        "state_bytes": 0,
        "total_bytes": 21_474_836_480,
    }


def test_size_defaults_to_max_context(run):
    data = run.json("size", "llama2-7b")
    assert (data["seq"], data["batch"], data["total_bytes"]) == (4096, 1, 2_147_483_648)


@pytest.mark.parametrize("seq, tokens", [("32k", 32_000), ("32K", 32_768), ("4096", 4096)])
def test_size_count_suffixes(run, seq, tokens):
    assert run.json("size", "mistral-7b-v0.3", "--seq", seq)["seq"] == tokens


def test_size_window_shows_in_groups(run):
    data = run.json("size", "mistral-7b", "--seq", "32K")
    assert data["total_bytes"] == 536_870_912
    assert data["groups"][0]["kind"] == "sliding" and data["groups"][0]["window"] == 4096
    assert data["groups"][0]["tokens_held"] == 4096


def test_size_dial_options(run):
    assert (
        run.json("size", "llama3-70b", "-s", "2048", "-b", "32", "--kv-heads", "4")["total_bytes"]
        == 10_737_418_240
    )
    assert (
        run.json("size", "llama3-70b", "-s", "2048", "-b", "32", "--attention", "mha")["kv_heads"]
        == 64
    )
    data = run.json("size", "llama3-70b", "-s", "2048", "-b", "32", "--attention", "mqa")
    assert (data["kv_heads"], data["total_bytes"]) == (1, 2_684_354_560)


def test_size_kv_dtype(run):
    data = run.json("size", "llama3-70b", "-s", "2048", "-b", "32", "--kv-dtype", "fp8")
    assert data["kv_dtype"] == "fp8_e4m3" and data["total_bytes"] == 21_474_836_480 // 2


def test_size_beyond_max_context_warns(run):
    result = run("size", "llama2-7b", "--seq", "8192", "--json")
    assert result.exit_code == 0
    assert "exceeds llama2-7b's max context of 4,096" in result.stderr


def test_size_user_yaml(run, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "id: m\nmax_context: 100\nnum_layers: 1\nnum_query_heads: 2\n"
        "num_kv_heads: 1\nhidden_size: 8\n"
    )
    # 1 layer x 1 head x 4 dims x 2 bytes x 2 (K,V) x 10 tokens = 160
    assert run.json("size", str(path), "--seq", "10")["total_bytes"] == 160


def test_size_mla_json(run):
    data = run.json("size", "deepseek-v3", "--seq", "2048", "--batch", "32")
    # an MLA cache has no KV heads: config.json's num_key_value_heads (128) is not one
    assert (data["attention"], data["kv_heads"], data["configured_kv_heads"]) == ("MLA", 1, None)
    assert data["total_bytes"] == 4_605_345_792 and data["v_bytes"] == 0
    assert data["groups"][0]["kind"] == "latent" and data["groups"][0]["kv_lora_rank"] == 512
    assert [v["form"] for v in data["variants"]] == ["configured"]
    assert data["variants"][0]["mha_ratio"] is None
    assert "latent 512+64" in run("size", "deepseek-v3", "-s", "2048", "-b", "32").stdout


def test_size_hybrid_json(run):
    data = run.json("size", "jamba-v0.1", "--seq", "1000")
    # 28 Mamba layers x (conv 3 x 8,192 + ssm 16 x 8,192) x 2 B = 8,716,288 B of state;
    # 4 attention layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 16,384 B per token
    assert data["attention"] == "GQA-8" and data["state_bytes"] == 8_716_288
    assert data["total_bytes"] == 1000 * 16_384 + 8_716_288
    state = [g for g in data["groups"] if g["kind"] == "state"][0]
    assert (state["mixer"], state["count"], state["state_bytes"]) == ("mamba", 28, 8_716_288)
    assert "+ state 8,716,288 B" in run("size", "jamba-v0.1", "--seq", "1000").stdout


def test_explain(run):
    out = run("size", "llama3-70b", "--seq", "2048", "--batch", "32", "--explain").stdout
    assert "head_dim 128 = hidden_size 8,192 / num_query_heads 64" in out
    assert "K per token = 8 KV heads x 128 dims = 1,024 fp16 values = 2,048 B" in out
    assert "80 layers x 32 requests x 2,048 tokens x (2,048 + 2,048) B" in out
    lines = run.json("size", "gemma-3-27b", "--seq", "128K", "--explain")["explain"]
    assert "  tokens held per request = min(window 1,024, seq 131,072) = 1,024" in lines
    assert lines[-1].startswith("total = 436,207,616 + 10,737,418,240 = 11,173,625,856 B")
    lines = run.json("size", "deepseek-v3", "--seq", "10", "--explain")["explain"]
    assert any(
        "kv_lora_rank 512 + qk_rope_head_dim 64 = 576 fp16 values = 1,152 B" in x for x in lines
    )
    lines = run.json("size", "jamba-v0.1", "--seq", "10", "--explain")["explain"]
    assert any("conv 24,576 + recurrent 131,072 values x 2 B = 311,296 B" in x for x in lines)
    assert "explain" not in run.json("size", "llama2-7b")


def test_dial(run):
    data = run.json("dial", "llama3-70b", "--seq", "2048", "--batch", "32")
    rows = {r["kv_heads"]: r for r in data["rows"]}
    assert sorted(rows) == [1, 2, 4, 8, 16, 32, 64]
    assert rows[8]["configured"] and rows[8]["total_bytes"] == 21_474_836_480
    assert rows[16]["group_size"] == 4 and rows[16]["total_bytes"] == 2 * 21_474_836_480
    table = run("dial", "llama3-70b", "--seq", "2048", "--batch", "32").stdout
    assert "GQA-8 (model)" in table and "160.00 GiB" in table


def test_models_list_and_detail(run):
    listing = run("models").stdout
    for preset in ("llama2-7b", "llama3-70b", "llama3.1-405b", "mistral-7b", "mistral-7b-v0.3"):
        assert preset in listing
    assert "GQA-8 + SWA 4096" in listing
    rows = {r["id"]: r for r in run.json("models")["models"]}
    assert rows["llama2-13b"]["kv_bytes_per_token_fp16"] == 819_200
    detail = run.json("models", "meta-llama/Meta-Llama-3-70B")
    assert detail["id"] == "llama3-70b" and detail["num_kv_heads"] == 8
    assert "hf_repo" in detail and detail["params"] == 70_553_706_496
    assert "meta-llama/Meta-Llama-3-70B" in run("models", "llama3-70b").stdout


def test_help_and_no_args(run):
    result = run()
    assert result.exit_code == 0
    for command in ("size", "dial", "models"):
        assert command in result.stdout
    help_text = run("size", "--help").stdout
    assert "32k = 32,000" in help_text and "32K = 32,768" in help_text


@pytest.mark.parametrize(
    "args, message",
    [
        (["size", "llama4"], "unknown model 'llama4'; did you mean"),
        (["size", "llama3-70b", "--seq", "abc"], "--seq: cannot read count 'abc'"),
        (["size", "llama3-70b", "--seq", "0"], "--seq must be at least 1"),
        (["size", "llama3-70b", "--seq", "-5"], "--seq: cannot read count"),
        (["size", "llama3-70b", "--batch", "0"], "--batch must be at least 1"),
        (["size", "llama3-70b", "--batch", "x"], "--batch: cannot read count"),
        (["size", "llama3-70b", "--kv-heads", "3"], "--kv-heads 3 does not divide 64"),
        (["size", "llama3-70b", "--kv-heads", "0"], "--kv-heads 0 does not divide"),
        (["size", "llama3-70b", "--kv-heads", "x"], "--kv-heads"),
        (["size", "llama3-70b", "--kv-dtype", "fp9"], "unknown KV cache dtype 'fp9'"),
        (["size", "llama3-70b", "--attention", "gqa"], "--attention must be mha or mqa"),
        (["size", "llama3-70b", "--attention", "mha", "--kv-heads", "8"], "not both"),
        (["size", "no/such/file.yaml"], "no such file"),
        (["size"], "Missing argument"),
        (["size", "llama3-70b", "--sq", "5"], "No such option"),
        (["dial", "llama4"], "unknown model"),
        (["dial", "deepseek-v3"], "MLA latent"),
        (["size", "deepseek-v3", "--kv-heads", "8"], "MLA latent"),
        (["models", "nosuchmodel"], "unknown model"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kvcalc: error:")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        ("id: x\nnum_layers: [1\n", "invalid YAML"),
        ("!!python/object/apply:os.system ['echo pwned']\n", "Python objects are refused"),
        (
            "id: x\nmax_context: 1\nnum_layers: 1\nnum_query_heads: 6\n"
            "num_kv_heads: 4\nhidden_size: 60\n",
            "not divisible by 4 KV heads",
        ),
        (
            "id: x\nmax_context: 1\nnum_layers: 1\nnum_query_heads: 2\n"
            "num_kv_heads: 1\nhidden_size: 8\n"
            "layers:\n  - kind: sliding\n    count: 1\n",
            "layers.0.sliding.window: Field required",
        ),
    ],
)
def test_bad_yaml_files(run, tmp_path, content, message):
    path = tmp_path / "model.yaml"
    path.write_text(content)
    result = run("size", str(path))
    assert result.exit_code == 2
    assert message in result.stderr and "model.yaml" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "pwned" not in result.stdout


def test_size_engine_prints_the_engine_line(run):
    result = run("size", "llama2-7b", "--seq", "4096", "--engine", "llamacpp-b5400")
    assert result.exit_code == 0
    assert (
        "KV self size  = 2048.00 MiB, K (f16): 1024.00 MiB, V (f16): 1024.00 MiB" in result.stdout
    )
    data = run.json("size", "mistral-7b", "--seq", "32768", "--engine", "vllm")
    # 32 layers x 6,160 slots (385 blocks of 16) x 4,096 B
    assert data["engine"] == "vllm" and data["total_bytes"] == 32 * 6160 * 4096


def test_k_and_v_formats_differ(run):
    # Llama 3 8B, 1,024 values per row: q8_0 32 x 34 = 1,088 B; q4_0 32 x 18 = 576 B
    data = run.json("size", "llama3-8b", "--seq", "8192", "--k-dtype", "q8_0", "--v-dtype", "q4_0")
    assert data["k_bytes"] == 32 * 8192 * 1088 and data["v_bytes"] == 32 * 8192 * 576
    assert data["kv_dtype"] == "q8_0/q4_0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "vlm"], "did you mean vllm"),
        (["--engine", "vllm", "--kv-dtype", "q8_0"], "vllm has no q8_0 K cache"),
        (["--engine", "sglang", "--k-dtype", "fp8"], "one cache dtype"),
        (["--engine", "llamacpp", "--block-size", "64"], "applies to vllm, vllm-0.19, sglang"),
        (["--engine", "vllm", "--block-size", "0"], "between 1 and"),
        (["--engine", "transformers", "--kv-dtype", "int4"], "QuantizedCache"),
    ],
)
def test_engine_option_errors(run, args, message):
    result = run("size", "llama3-8b", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_fit_engine_report(run):
    data = run.json(
        "fit", "llama2-7b", "--mem", "8GiB", "--kv-only", "--util", "1", "--engine", "vllm"
    )
    assert data["engine_report"][1] == "GPU KV cache size: 16,384 tokens"


def test_text_options_pass_through_without_typers_adapters(run):
    # kvcalc parses its own option text (kvcalc.options.setup); typer only hands it over:
    # a given value arrives as typed, an absent one as its default, an int option is still
    # converted by typer, and a missing argument is still typer's error
    from kvcalc.cli.group import COMMANDS, KvcalcGroup

    command = KvcalcGroup(name="kvcalc").get_command(None, "size")
    assert COMMANDS["size"][0] == "size"
    data = run.json("size", "llama3-70b", "--seq", "2048", "--batch", "32", "--kv-heads", "4")
    assert (data["seq"], data["batch"], data["kv_heads"]) == (2048, 32, 4)
    assert run("size", "llama3-70b", "--kv-heads", "x").exit_code == 2
    assert "Missing argument 'MODEL'" in run("size").stderr
    params = {p.name: p for p in command.params}
    assert "process_value" in vars(params["seq"])  # passed through
    assert "process_value" not in vars(params["kv_heads"])  # an int: typer converts it


def test_help_offers_only_what_the_command_takes(run):
    # fit refuses --ctx-size (with the reason, when given) and so does not list it
    assert "--ctx-size" not in run("fit", "--help").stdout
    assert "--ctx-size" in run("size", "--help").stdout
    assert "--install-completion" not in run("size", "--help").stdout
    refused = run("fit", "llama3-8b", "--mem", "24GB", "--ctx-size", "4096")
    assert refused.exit_code == 2 and "does not apply to 'fit'" in refused.stderr


@pytest.mark.parametrize("command", ["size", "fit", "compare", "models", "check", "log"])
def test_usage_lines_bracket_each_argument_once(run, command):
    usage = run(command, "--help").stdout.splitlines()[0]
    # typer adds [] to an optional argument and ... to a repeated one: a metavar that
    # carried its own read "[[MODEL]]" and "{MODEL...}..."
    assert not any(twice in usage for twice in ("[[", "...]", "...}")), usage


def test_a_mistyped_command_is_named_with_the_nearest(run):
    result = run("sizee", "llama3-8b")
    assert result.exit_code == 2 and "did you mean 'size'?" in result.stderr


def test_explain_counts_in_words(run):
    # one request of 1,000 tokens: "1 request", never "1 requests"
    text = run("size", "llama3-8b", "--seq", "1000", "--explain").stdout
    assert "1,000 tokens x 1 request;" in text and "1 requests" not in text


def test_a_mem_target_is_named_once(run):
    # "--mem 24G" reads as 24 GB (x1000); the header names it as typed, its kind once
    head = run("fit", "llama3-8b", "--mem", "24G").stdout.splitlines()[0]
    assert head.startswith("llama3-8b on 24G (gpu, 24.00 GB / 22.35 GiB each)"), head
