"""The JSON contract: every command's --json output validates against its schema in
docs/schema/, and a key means one thing wherever it appears."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"

RUNS = [
    ("size", "size llama3-70b --seq 2048 --batch 32"),
    ("size", "size deepseek-v3 --seq 4096 --engine llamacpp --explain"),
    ("size", "size jamba-v0.1 --seq 8192 --engine vllm --attention mqa"),
    ("size", "size gemma-3-27b --mem 24GB --seq 8192"),
    ("size", "size llama4-scout --seq 32K --engine transformers --tp 2 --gpu h100"),
    ("size", "size llama3-8b --k-dtype q8_0 --v-dtype q4_0 --engine llamacpp --seq 8192"),
    ("fit", "fit llama3-8b --mem 24GB"),
    ("fit", "fit mistral-7b --mem 24GB --engine sglang"),
    ("fit", "fit llama3-70b --gpu h100 --gpus 4 --engine vllm --seq 8192 --batch 4"),
    ("fit", "fit deepseek-v3 --gpu h100 --gpus 16 --kv-only"),
    ("fit", "fit jamba-v0.1 --gpu h200 --gpus 2 --engine llamacpp"),
    ("fit", "fit llama3-8b --gpu h100 --engine tensorrt-llm --max-tokens 100000 --kv-dtype fp8"),
    ("fit", "fit llama3-70b --gpu h100"),  # does not fit: exit 1, JSON still printed
    ("fit-all", "fit --mem 80GB"),
    ("dial", "dial llama3-70b --gpu h100 --tp 2 --seq 8192"),
    ("dial", "dial llama3-8b --bandwidth 1TB/s --k-dtype q8_0 --v-dtype q4_0 --engine llamacpp"),
    ("decode", "decode llama3-70b --gpu h100 --seq 2048 --batch 32"),
    ("decode", "decode mistral-7b --bandwidth 1TB/s"),
    ("compare", "compare llama3-70b qwen2.5-72b --gpu h100 --tp 2 --seq 8192"),
    ("compare", "compare llama3-8b deepseek-v3 jamba-v0.1"),
    ("plot", "plot llama3-70b --to 8192 --mem 80GB --seq 4096"),
    ("plot", "plot llama3-8b qwen3-8b --x batch --seq 1000"),
    ("models", "models"),
    ("models", "models qwen3"),
    ("model", "models gemma-3-27b"),
    ("model", "models deepseek-v3"),
    ("model", "models qwen3-next-80b-a3b"),
    ("gpus", "gpus"),
    ("log", "log tests/data/engine_logs/vllm-0.19-llama3.1-8b-h100.log --seq 32768 --batch 20"),
    ("log", "log tests/data/engine_logs/sglang-0.4-qwq32b-4xl4.log --seq 8192"),
    ("check", "check"),
]


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.mark.parametrize(("name", "command"), RUNS, ids=[c for _, c in RUNS])
def test_output_matches_its_schema(run, name, command):
    result = run(*command.split(), "--json")
    assert result.exit_code in (0, 1), result.stderr
    jsonschema.validate(json.loads(result.stdout), schema(name))


def test_documents_report_matches_its_schema(run, tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("<!-- kvcalc: size llama3-70b --seq 2048 --batch 32 --> 21.47 GB\n")
    result = run("check", str(doc), "--json")
    assert result.exit_code == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), schema("check-documents"))


def properties(node: object, found: dict[str, list[dict]]) -> None:
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            found.setdefault(key, []).append(sub)
            properties(sub, found)
        properties(node.get("items"), found)


def test_a_key_means_one_thing_in_every_schema():
    found: dict[str, list[dict]] = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))
        properties(json.loads(path.read_text()), found)
    for key, uses in found.items():
        meanings = {use.get("description") for use in uses}
        assert len(meanings) == 1 and None not in meanings, f"{key!r}: {meanings}"


def test_every_json_command_has_a_schema():
    from kvcalc.cli.group import COMMANDS

    named = {name for name, _ in RUNS} | {"check-documents"}
    for command in COMMANDS:
        if command != "import":  # prints YAML
            assert command in named, f"no schema run for '{command}'"
    assert {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.json")} == named


def test_the_json_doc_lists_every_key_with_its_meaning():
    found: dict[str, list[dict]] = {}
    for path in SCHEMAS.glob("*.schema.json"):
        properties(json.loads(path.read_text()), found)
    doc = (SCHEMAS.parent / "json.md").read_text()
    for key, uses in found.items():
        assert f"| `{key}` | {uses[0]['description']} |" in doc, key


def test_fit_with_a_gguf_offload_matches_its_schema(run, tmp_path):
    from tests.conformance.llamacpp.models import by_name

    path = tmp_path / "gemma3.gguf"
    by_name()["gemma3"].build(path).write()
    args = ["fit", str(path), "--engine", "llamacpp", "--mem", "20MiB", "-np", "1"]
    result = run(*args, "--seq", "4096", "--overhead", "2MiB", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["offload"] is not None
    jsonschema.validate(data, schema("fit"))
    model = run("models", str(path), "--json")
    jsonschema.validate(json.loads(model.stdout), schema("model"))
