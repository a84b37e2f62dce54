"""The README's and docs/'s commands run, and the README's sample output is what kvcalc prints."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGES = [README] + [path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))]
COMMANDS = sorted({c for page in PAGES for c in re.findall(r"^\$ kvcalc (.+)$", page, flags=re.M)})


def test_readme_opens_with_the_setup_commands():
    assert README.index("make run") < README.index("make test") < README.index("## The headline")
    assert len(COMMANDS) >= 30
    for page in re.findall(r"\]\((docs/[^)#]+)", README):  # every linked page exists
        assert (ROOT / page).is_file(), page


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_runs(run, command, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the docs are relative to the repository root
    result = run(*shlex.split(command))
    assert result.exit_code == 0, f"{command}: {result.stderr}"
    assert result.stdout


def test_readme_sample_output_matches(run):
    out = run("size", "llama3-70b", "--seq", "2048", "--batch", "32").stdout
    sample = README.split("KV cache: 2,048 tokens x 32 requests, fp16", 1)[1].split("```", 1)[0]
    rows = [line.strip() for line in sample.splitlines() if re.match(r"^ (GQA|MHA|MQA)", line)]
    assert len(rows) == 3
    for row in rows:
        assert row in out
    assert "21,474,836,480 B = 21.47 GB / 20.00 GiB" in sample
