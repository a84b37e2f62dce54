"""Plots: the series are sizing's numbers; files appear when matplotlib is present."""

from __future__ import annotations

import sys

import pytest

from kvcalc.catalog import load_model
from kvcalc.dtypes import kv_format
from kvcalc.errors import UsageError
from kvcalc.layers import expand
from kvcalc.plotting import chart, xs_for
from kvcalc.sizing import size

FP16 = kv_format("fp16")


def test_xs_are_even_and_include_both_ends():
    assert xs_for(8192, 5, 0) == (0, 2048, 4096, 6144, 8192)
    assert xs_for(3, 41, 1) == (1, 2, 3)  # never more points than integers
    with pytest.raises(UsageError):
        xs_for(0, 41, 1)


def test_one_model_draws_its_mha_gqa_mqa_forms_from_sizing():
    spec = load_model("llama3-70b")
    drawn = chart([spec], "seq", 8192, 32, FP16, FP16, points=5)
    labels = [s.label for s in drawn.series]
    assert labels == ["llama3-70b MHA", "llama3-70b GQA-8 (model)", "llama3-70b MQA"]
    gqa = drawn.series[1].ys
    assert gqa == tuple(size(expand(spec), x, 32, FP16, FP16).total_bytes for x in drawn.xs)
    # 2,048 tokens x 32 requests: 21,474,836,480 B; MHA 8x that
    assert gqa[1] == 21_474_836_480 and drawn.series[0].ys[1] == 8 * gqa[1]


def test_batch_axis_and_several_models():
    specs = [load_model("llama3-8b"), load_model("qwen3-8b")]
    drawn = chart(specs, "batch", 4, 1000, FP16, FP16)
    assert drawn.xs == (1, 2, 3, 4)
    # 131,072 B/token x 1,000 tokens x 3 requests
    assert drawn.series[0].ys[2] == 3 * 1000 * 131_072


def test_plot_cli_terminal_and_json(run):
    out = run("plot", "llama3-70b", "--to", "8192", "--batch", "32").stdout
    assert "llama3-70b MHA: 687.19 GB at 8,192" in out
    data = run.json("plot", "llama3-8b", "--to", "1000", "--points", "3", "--mem", "24GB")
    assert data["xs"] == [0, 500, 1000]
    model = next(s for s in data["series"] if s["label"].endswith("(model)"))
    assert model["total_bytes_by_x"] == [0, 500 * 131_072, 1000 * 131_072]
    assert data["budgets"][0]["kv_budget_bytes"] > 0


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_a_file(run, tmp_path, suffix):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"chart{suffix}"
    result = run("plot", "llama3-70b", "--to", "4096", "--out", str(path))
    assert result.exit_code == 0, result.stderr
    assert path.stat().st_size > 1000


def test_plot_without_matplotlib_says_how_to_install(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    result = run("plot", "llama3-8b", "--out", str(tmp_path / "c.png"))
    assert result.exit_code == 2 and "pip install 'kvcalc[plot]'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plot"], "Missing argument"),
        (["plot", "llama3-8b", "--x", "time"], "--x must be seq or batch"),
        (["plot", "llama3-8b", "--out", "no/such/dir/c.png"], "does not exist"),
        (["plot", "llama3-8b", "--out", "chart.pdf"], ".png or .svg"),
        (["plot", "llama3-8b", "--points", "1"], "--points"),
        (["plot", "llama3-8b", "--to", "0"], "--to"),
        (["plot", "llama3-8b", "--gpu", "nosuch"], "unknown"),
    ],
)
def test_plot_errors(run, args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
