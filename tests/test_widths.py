"""No number is ever cut: every command at 40, 80 and 120 columns (CliRunner output is not
a terminal, like a pipe) prints every number it prints at 400 columns, digit for digit."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from kvcalc.cli import app

# a number as printed: 163,840 / 21.47 / 0.9 / 8x's 8
NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")

COMMANDS = [
    "size llama3-70b --seq 2048 --batch 32",
    "size gemma-3-27b --seq 32k --engine vllm --explain",
    "size deepseek-v3 --seq 4096 --engine llamacpp",
    "size jamba-v0.1 --seq 8192 --engine llamacpp",
    "fit --mem 24GB",
    "fit llama3-70b --gpu h100 --gpus 4 --engine vllm",
    "fit llama3-8b --mem 24GB --util 1 --overhead 0 --weights bf16 --seq 8192 --batch 2",
    "fit mixtral-8x7b --gpu h100 --gpus 2 --engine sglang",
    "dial llama3-70b --seq 8192 --gpu h100 --tp 2",
    "dial llama3-70b --seq 8192",
    "decode llama3-70b --gpu h100 --seq 2048 --batch 32",
    "compare llama3-70b qwen2.5-72b mixtral-8x7b --seq 8192 --gpu h100 --tp 2",
    "plot llama3-70b --to 8192",
    "models",
    "models gemma-3-27b",
    "gpus",
    "check",
]


def render(command: str, columns: int) -> str:
    runner = CliRunner(env={"COLUMNS": str(columns), "NO_COLOR": "1"})
    result = runner.invoke(app, command.split())
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_number_survives_every_width(command):
    wide = render(command, 400)
    numbers = set(NUMBER.findall(wide))
    assert numbers, "the command printed no numbers"
    for columns in (40, 80, 120):
        narrow = render(command, columns)
        assert "…" not in narrow, f"cut at {columns} columns"
        missing = sorted(n for n in numbers if n not in narrow)
        assert not missing, f"at {columns} columns these numbers are cut: {missing[:8]}"
