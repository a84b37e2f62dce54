"""CliRunner tests of `kvcalc fit` and `kvcalc gpus`."""

import json

import pytest

PINNED = ["--mem", "24GB", "--util", "1", "--overhead", "0", "--weights", "bf16"]


def test_fit_pinned_json(run):
    data = run.json("fit", "llama3-8b", *PINNED)
    assert data["budget"] == {
        "device_bytes": 24_000_000_000,
        "util": "1",
        "usable_bytes": 24_000_000_000,
        "weight_format": "bf16",
        "weight_bytes_total": 16_060_522_496,
        "weight_bytes": 16_060_522_496,
        "overhead_bytes": 0,
        "kv_budget_bytes": 7_939_477_504,
        "kv_budget_bytes_total": 7_939_477_504,
        "free_bytes": None,  # util is of the device, not of what loading leaves
        "device_source": None,  # the flat budget: no engine accounting
        "terms": [],
        "stage_kv_budget_bytes": [7_939_477_504],
    }
    assert data["max_context_memory"] == 60_573 and data["model_max_context"] == 8192
    assert data["max_context"] == 8192 and data["max_batch"] == 7 and data["fits"] is True


def test_fit_pinned_24gib(run):
    args = [
        "fit",
        "llama3-8b",
        "--mem",
        "24GiB",
        "--util",
        "1",
        "--overhead",
        "0",
        "--weights",
        "bf16",
    ]
    data = run.json(*args)
    assert (data["max_context_memory"], data["max_batch"]) == (74_075, 9)


def test_fit_table_shows_breakdown(run):
    out = run("fit", "llama3-8b", *PINNED).stdout
    for text in (
        "24,000,000,000",
        "16,060,522,496",
        "7,939,477,504",
        "60,573 tokens by memory",
        "the model allows 8,192",
        "Most requests of 8,192 tokens: 7",
    ):
        assert text in out


def test_fit_seq_and_batch(run):
    data = run.json("fit", "llama3-8b", *PINNED, "--seq", "8192", "--batch", "7")
    assert data["fits"] and data["headroom_bytes"] == 423_284_736
    result = run("fit", "llama3-8b", *PINNED, "--seq", "8192", "--batch", "8")
    assert result.exit_code == 1
    assert "7 requests of 8,192 tokens" in result.stderr and result.stderr.count("\n") == 1
    result = run("fit", "llama3-8b", *PINNED, "--batch", "4", "--json")
    # 7,939,477,504 // (4 x 131,072) = 15,143 tokens for 4 requests
    assert result.exit_code == 0
    import json

    assert (
        json.loads(result.stdout)["max_context_memory"] == 7_939_477_504 // (4 * 131_072) == 15_143
    )


def test_fit_gpu_presets(run):
    data = run.json("fit", "llama3-70b", "--gpu", "h100", "--gpus", "8")
    assert data["target"]["label"] == "h100-sxm-80gb" and data["target"]["tp"] == 8
    assert data["budget"]["device_bytes"] == 81_559 * 2**20
    assert data["budget"]["weight_bytes"] == 141_107_412_992 // 8
    assert data["kv_heads_per_device"] == 1 and not data["kv_heads_replicated"]
    data = run.json("fit", "llama3-70b", "--gpu", "h100", "--tp", "16")
    assert data["kv_heads_replicated"] and data["bytes_per_token_per_device"] == 40_960
    assert "replica" in run("fit", "llama3-70b", "--gpu", "h100", "--tp", "16").stdout


@pytest.mark.parametrize(
    "name",
    [
        "h100",
        "h200",
        "a100-80gb",
        "a100-40gb",
        "l40s",
        "l4",
        "a10g",
        "t4",
        "rtx4090",
        "rtx3090",
        "rtx5090",
        "mi300x",
        "m2-ultra",
        "RTX 4090",
    ],
)
def test_gpu_names_people_type(run, name):
    result = run("fit", "llama3-8b", "--gpu", name, "--weights", "q4_0", "--json")
    assert result.exit_code in (0, 1), result.stderr


def test_fit_cpu(run):
    data = run.json("fit", "llama3-8b", "--device", "cpu", "--mem", "64GB", "--weights", "q4_k_m")
    # q4_k_m 4.84 bits: 8,030,261,248 x 4.84 / 8 = 4,858,308,055.04 -> 4,858,308,056 B
    assert data["budget"]["weight_bytes"] == 4_858_308_056
    assert data["budget"]["util"] == "1" and data["budget"]["overhead_bytes"] == 512 * 2**20


def test_fit_all_presets(run):
    result = run("fit", "--mem", "24GB")
    assert result.exit_code == 0
    for preset in ("llama2-7b", "llama3-70b", "mistral-7b"):
        assert preset in result.stdout
    rows = {m["model"]: m for m in run.json("fit", "--mem", "24GB")["models"]}
    assert rows["llama3-70b"]["fits"] is False and rows["llama3-8b"]["fits"] is True
    assert rows["mistral-7b"]["max_context_memory"] is None  # every layer windowed


def test_no_fit_exit_1_with_suggestion(run):
    result = run("fit", "llama3-70b", "--gpu", "rtx4090")
    assert result.exit_code == 1
    assert "does not fit on rtx-4090" in result.stderr and "--gpus 8" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "= KV budget" in result.stdout  # the breakdown is still shown
    data = run("fit", "llama3-70b", "--gpu", "rtx4090", "--json")
    assert data.exit_code == 1 and '"fits": false' in data.stdout


def test_gpus(run):
    out = run("gpus").stdout
    assert "h100-sxm-80gb" in out and "79.65 GiB" in out
    rows = {r["id"]: r for r in run.json("gpus")["gpus"]}
    assert rows["rtx-4090"]["memory_bytes"] == 24_564 * 2**20
    assert rows["h200-141gb"]["bandwidth_gb_s"] == 4800


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "llama3-8b"], "give --mem SIZE"),
        (["fit", "llama3-8b", "--mem", "24XB"], "--mem: cannot read size '24XB'"),
        (["fit", "llama3-8b", "--mem", "0GB"], "--mem must be more than 0"),
        (["fit", "llama3-8b", "--mem", "-5GB"], "--mem: cannot read size"),
        (["fit", "llama3-8b", "--mem", "lots"], "KiB/MiB/GiB"),
        (["fit", "llama3-8b", "--gpu", "h1000"], "unknown GPU 'h1000'; did you mean"),
        (["fit", "llama3-8b", "--mem", "24GB", "--util", "0"], "--util must be in (0, 1]"),
        (["fit", "llama3-8b", "--mem", "24GB", "--util", "1.5"], "--util must be in (0, 1]"),
        (["fit", "llama3-8b", "--mem", "24GB", "--util", "x"], "--util: cannot read number"),
        (["fit", "llama3-8b", "--mem", "24GB", "--weights", "q3"], "unknown weight format"),
        (
            ["fit", "llama3-8b", "--mem", "24GB", "--overhead", "1 parsec"],
            "--overhead: cannot read size",
        ),
        (["fit", "llama3-8b", "--mem", "24GB", "--gpus", "0"], "--gpus must be at least 1"),
        (["fit", "llama3-8b", "--mem", "24GB", "--tp", "3"], "does not divide 32 query heads"),
        (["fit", "llama3-8b", "--mem", "24GB", "--pp", "33"], "between 1 and 32"),
        (["fit", "llama3-8b", "--mem", "24GB", "--gpus", "8", "--tp", "3"], "not a multiple"),
        (["fit", "llama3-8b", "--device", "cpu", "--gpu", "h100"], "give --mem, not --gpu"),
        (["fit", "llama3-8b", "--device", "tpu", "--mem", "1GB"], "--device must be gpu or cpu"),
        (["fit", "llama3-8b", "--device", "cpu", "--mem", "64GB", "--gpus", "2"], "one RAM budget"),
        (["fit", "llama3-8b", "--mem", "24GB", "--kv-only", "--weights", "bf16"], "--kv-only"),
        (["fit", "llama3-8b", "--mem", "24GB", "--seq", "0"], "--seq must be at least 1"),
        (["fit", "llama4", "--mem", "24GB"], "unknown model"),
    ],
)
def test_fit_usage_errors(run, args, message):
    result = run(*args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_seq_alone_with_no_request_that_fits_is_no_answer(run):
    # 17 GB - 16,060,522,496 B of bf16 weights = 939,477,504 B of KV; one 8,192-token
    # request needs 8,192 x 131,072 = 1,073,741,824 B: none fits, though 7,167 tokens do
    # (7,167 x 131,072 = 939,393,024 <= 939,477,504 < 7,168 x 131,072)
    args = ["fit", "llama3-8b", "--mem", "17GB", "--util", "1", "--overhead", "0"]
    result = run(*args, "--seq", "8192", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["max_batch"] == 0 and data["fits"] is False and data["max_context"] == 7167
    assert "not one request of 8,192 tokens fits" in result.stderr
    assert "1 request of 7,167 tokens" in result.stderr


@pytest.mark.parametrize("flag", ["--tp", "--pp", "--gpus"])
def test_gpu_counts_take_plain_digits_not_token_suffixes(run, flag):
    # 1k is a token count's suffix (1,000); a GPU count is written out
    result = run("fit", "llama3-8b", "--gpu", "h100", flag, "1k")
    assert result.exit_code == 2 and f"{flag}: cannot read whole number '1k'" in result.stderr
