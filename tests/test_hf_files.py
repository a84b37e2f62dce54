"""Model folders as people keep them: names from the repo, not the folder; the index's
total when the shards are not all there; the safetensors reader's strictness."""

from __future__ import annotations

import json

import pytest

from kvcalc.errors import SpecError
from kvcalc.importers.hf import load_hf
from kvcalc.importers.naming import model_name, repo_from_cache_folder, telling_folder
from tests.hubserver import LLAMA31_BYTES, LLAMA31_PARAMS, SHA, llama31_files, write_cache

CONFIG = json.loads(llama31_files()["config.json"])


def folder_with(tmp_path, relative, files):
    folder = tmp_path / relative
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("relative", "name_or_path", "name", "spec_id"),
    [
        ("llama3-70b/hf", None, "llama3-70b", "llama3-70b"),  # issue 15: not "hf"
        ("my-sft/checkpoints/main", None, "my-sft", "my-sft"),
        ("x/" + SHA, None, "x", "x"),  # a commit hash says nothing
        ("hf", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B", "meta-llama-llama-3.1-8b"),
        ("hf", "/fsx/runs/llama-sft-7/hf", "llama-sft-7", "llama-sft-7"),
        (
            "hf",
            "/root/.cache/huggingface/hub/models--Qwen--Qwen3-8B/snapshots/" + SHA,
            "Qwen/Qwen3-8B",
            "qwen-qwen3-8b",
        ),
        ("hf", "", "imported-hf-names", None),  # an empty _name_or_path: the folders decide
    ],
)
def test_a_model_is_named_for_itself(tmp_path, relative, name_or_path, name, spec_id):
    config = dict(CONFIG)
    if name_or_path is not None:
        config["_name_or_path"] = name_or_path
    base = tmp_path / "imported-hf-names"
    folder = folder_with(base, relative, {"config.json": json.dumps(config).encode()})
    spec, _ = load_hf(folder)
    assert spec.name == name
    assert spec.id == (spec_id or "imported-hf-names")


def test_a_cache_snapshot_is_named_for_its_repo(tmp_path):
    snap = write_cache(tmp_path, "meta-llama/Llama-3.1-8B-Instruct", llama31_files())
    spec, _ = load_hf(snap)  # read as a plain path, still named from the layout
    assert (spec.name, spec.id) == (
        "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama-llama-3.1-8b-instruct",
    )
    assert (spec.params, spec.weight_bytes) == (LLAMA31_PARAMS, LLAMA31_BYTES)


def test_naming_helpers():
    assert repo_from_cache_folder("models--meta-llama--Llama-3.1-8B") == "meta-llama/Llama-3.1-8B"
    assert repo_from_cache_folder("models--a--b--c") is None  # '--' never inside a name
    assert repo_from_cache_folder("datasets--a--b") is None
    from pathlib import PurePath

    assert telling_folder(PurePath("/")) is None
    assert model_name({}, PurePath("/hf/snapshots/config.json")) == "imported"


def test_index_total_when_shards_are_missing(tmp_path):
    files = llama31_files()
    folder = folder_with(tmp_path, "m", {k: v for k, v in files.items() if "00002" not in k})
    spec, notes = load_hf(folder)
    # three of four shards present: not summed; the index's total is the checkpoint's bytes
    assert spec.weight_bytes == LLAMA31_BYTES == 16_060_522_496
    assert spec.params == LLAMA31_PARAMS  # the config estimate (exact for Llama)
    assert any("only the index's total bytes" in n for n in notes)
    assert any("model.safetensors.index.json metadata.total_size" in s for s in spec.sources)


def test_all_shards_named_by_the_index_are_summed(tmp_path):
    folder = folder_with(tmp_path, "m", llama31_files())
    (folder / "stray.safetensors").write_bytes(b"not read: the index names the shards")
    spec, notes = load_hf(folder)
    assert (spec.params, spec.weight_bytes) == (LLAMA31_PARAMS, LLAMA31_BYTES)
    assert not any("estimated" in n for n in notes)


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (b"[]", "expected a JSON object"),
        (b'{"weight_map": []}', "weight_map must be an object"),
        (b'{"weight_map": {"a": "../b.safetensors"}}', "not a shard file"),
        (b'{"weight_map": {"a": "/etc/x.safetensors"}}', "not a shard file"),
        (b'{"weight_map": {"a": 7}}', "weight_map names '7'"),
        (b'{"metadata": {"total_size": 1.5e10}, "weight_map": {}}', "total_size must be"),
        (b'{"metadata": {"total_size": true}, "weight_map": {}}', "total_size must be"),
        (b'{"metadata": {"total_size": -1}, "weight_map": {}}', "total_size must be"),
        (b"\xff", "not valid JSON"),
    ],
)
def test_index_is_read_strictly(tmp_path, index, message):
    folder = folder_with(
        tmp_path, "m", {"config.json": json.dumps(CONFIG).encode(),
                        "model.safetensors.index.json": index},
    )  # fmt: skip
    with pytest.raises(SpecError, match=message):
        load_hf(folder)
