"""Hugging Face repo ids: the local cache first (offline), then the Hub (a local server).

Issue 15's acceptance: `kvcalc size meta-llama/Llama-3.1-8B-Instruct --seq 131072` works
offline from a cache laid out as huggingface_hub lays it out, and online against a server
that answers as the Hub does, with the exact weights from the safetensors headers.

Llama 3.1 8B at 131,072 tokens: 32 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 B =
131,072 B per token, x 131,072 tokens = 17,179,869,184 B (16 GiB).  Its weights: 8,030,261,248
BF16 parameters = 16,060,522,496 B (tests/hubserver.py writes the arithmetic out).
"""

from __future__ import annotations

import json
import socket
import sys

import pytest

from tests.hubserver import (
    LLAMA31_BYTES,
    LLAMA31_PARAMS,
    SHA,
    TOKEN,
    Repo,
    llama31_files,
    serve,
    write_cache,
)
from tests.test_hostile import fails

REPO = "meta-llama/Llama-3.1-8B-Instruct"
KV_131072 = 17_179_869_184


@pytest.fixture(scope="module")
def server():
    hub, httpd = serve()
    yield hub
    httpd.shutdown()


@pytest.fixture
def hub(server, monkeypatch):
    """The local Hub, emptied, with HF_ENDPOINT pointing at it."""
    server.repos.clear()
    server.log.clear()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    return server


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    return folder


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test, and huggingface_hub cannot be imported."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network call was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import raises ImportError


def checkpoint(run, name):
    """(params, checkpoint bytes, id, hf_repo) of a model as `kvcalc models` shows it."""
    data = run.json("models", name)
    return data["params"], data["checkpoint_bytes"], data["id"], data["hf_repo"]


def test_acceptance_offline_from_the_cache(run, cache, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_cache(cache, REPO, llama31_files())
    data = run.json("size", REPO, "--seq", "131072")
    assert data["total_bytes"] == KV_131072
    assert data["model"] == "meta-llama-llama-3.1-8b-instruct"  # named from the repo
    assert checkpoint(run, REPO) == (LLAMA31_PARAMS, LLAMA31_BYTES, data["model"], REPO)


def test_acceptance_online_from_the_hub(run, hub):
    hub.repos[REPO] = Repo(llama31_files())
    # the repo id is also the llama3.1-8b preset's alias: the preset answers, with no request
    # (a gated repo would need HF_TOKEN); `@main` (any revision) asks the Hub itself
    assert run.json("size", REPO, "--seq", "131072")["model"] == "llama3.1-8b"
    assert hub.log == []
    data = run.json("size", REPO + "@main", "--seq", "131072")
    assert data["total_bytes"] == KV_131072
    assert data["model"] == "meta-llama-llama-3.1-8b-instruct"
    found = checkpoint(run, REPO + "@main")
    assert found == (LLAMA31_PARAMS, LLAMA31_BYTES, data["model"], REPO)
    shards = [r for r in hub.log if ".safetensors" in r["path"] and "index" not in r["path"]]
    assert shards and all(r["range"] for r in shards)  # never a whole weights file
    # each shard's header (~10 KB of JSON) came in one 64 KiB range: nothing near the weights
    assert all(r["sent"] <= 65536 for r in shards)
    assert all(SHA in r["path"] for r in hub.log if "/resolve/" in r["path"])  # one commit


def test_a_preset_alias_is_offline_unless_the_cache_holds_the_repo(run, no_network):
    # no cache entry: the preset that carries the repo id as an alias answers, no network
    data = run.json("size", REPO, "--seq", "131072")
    assert (data["model"], data["total_bytes"]) == ("llama3.1-8b", KV_131072)


@pytest.mark.parametrize(
    "name", ["llama3.1-8b", "LLAMA3-8B", "meta-llama/Meta-Llama-3-8B", "qwen3-8b"]
)
def test_presets_never_touch_the_network(run, no_network, name):
    assert run.json("size", name, "--seq", "1")["total_bytes"] > 0


def test_local_paths_never_touch_the_network(run, no_network, tmp_path):
    folder = tmp_path / "meta-llama" / "Llama-3.1-8B-Instruct"  # a repo-shaped local path
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**json.loads(llama31_files()["config.json"])}))
    for name in (str(folder), str(folder / "config.json")):
        assert run.json("size", name, "--seq", "1")["total_bytes"] == 131_072


def test_a_repo_shaped_relative_path_is_that_path(run, no_network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "model").mkdir(parents=True)
    (tmp_path / "org" / "model" / "config.json").write_text(llama31_files()["config.json"].decode())
    assert run.json("size", "org/model", "--seq", "1")["total_bytes"] == 131_072


def test_revision_picks_the_snapshot(run, cache, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    other = "1" * 40
    config = json.loads(llama31_files()["config.json"])
    write_cache(cache, REPO, llama31_files())
    small = {"config.json": json.dumps({**config, "num_hidden_layers": 16}).encode()}
    write_cache(cache, REPO, small, commit=other, ref="v2")
    # 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 131,072; at 16 layers 65,536
    per_token = {"": 131_072, "@main": 131_072, f"@{SHA}": 131_072, "@v2": 65_536,
                 f"@{other}": 65_536}  # fmt: skip
    for suffix, expected in per_token.items():
        assert run.json("size", REPO + suffix, "--seq", "1")["total_bytes"] == expected, suffix


def test_cache_with_only_the_index_uses_its_total(run, cache, no_network):
    files = llama31_files()
    write_cache(cache, REPO, {k: v for k, v in files.items() if "-of-" not in k})
    params, nbytes, _, _ = checkpoint(run, REPO)
    assert nbytes == LLAMA31_BYTES  # metadata.total_size
    assert params == LLAMA31_PARAMS  # estimated from the config: exact for Llama
    note = run("size", REPO, "--seq", "1").stderr
    assert "only the index's total bytes beside config.json" in note


def test_a_half_downloaded_cache_is_not_summed_as_whole(run, cache, no_network):
    files = llama31_files()
    write_cache(cache, REPO, {k: v for k, v in files.items() if "00004" not in k})
    assert checkpoint(run, REPO)[1] == LLAMA31_BYTES  # the index's total, not 3 shards


def test_single_file_checkpoint_on_the_hub(run, hub):
    files = llama31_files(shards=1)
    single = {
        "config.json": files["config.json"],
        "model.safetensors": files["model-00001-of-00001.safetensors"],
    }
    hub.repos["org/one-file"] = Repo(single)
    assert checkpoint(run, "org/one-file")[:2] == (LLAMA31_PARAMS, LLAMA31_BYTES)


def test_a_long_header_takes_a_second_range(run, hub):
    # a header past the first 64 KiB: the rest is asked for, exactly
    files = llama31_files(shards=1)
    header = files["model-00001-of-00001.safetensors"]
    raw = json.loads(header[8:])
    raw["__metadata__"]["padding"] = "x" * 100_000
    body = json.dumps(raw).encode()
    files["model-00001-of-00001.safetensors"] = len(body).to_bytes(8, "little") + body
    hub.repos["org/long"] = Repo(files)
    assert checkpoint(run, "org/long")[:2] == (LLAMA31_PARAMS, LLAMA31_BYTES)
    ranges = [r["range"] for r in hub.log if r["path"].startswith("/cdn/")]
    assert ranges == ["bytes=0-65535", f"bytes=65536-{8 + len(body) - 1}"]


def test_a_server_that_ignores_ranges_is_read_only_as_far_as_needed(run, hub):
    files = llama31_files(shards=1)
    shard = "model-00001-of-00001.safetensors"
    files[shard] += b"\0" * (8 * 2**20)  # 8 MiB of 'weights' after the header
    hub.repos["org/no-ranges"] = Repo(files, ignore_range=True)
    assert checkpoint(run, "org/no-ranges")[:2] == (LLAMA31_PARAMS, LLAMA31_BYTES)


def test_gated_repo_asks_for_a_token(run, hub, monkeypatch):
    hub.repos["meta-llama/Gated-1B"] = Repo(llama31_files(), gated=True)
    line = fails(run, "size meta-llama/Gated-1B", hub.url, 2, "is gated on the Hub", "HF_TOKEN")
    assert "no token is set" in line
    monkeypatch.setenv("HF_TOKEN", "hf_someone_else")
    line = fails(run, "size meta-llama/Gated-1B", hub.url, 2, "is gated on the Hub")
    assert "a token is set, without access" in line
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert run.json("size", "meta-llama/Gated-1B", "--seq", "1")["total_bytes"] == 131_072


def test_private_repo_and_missing_repo(run, hub, monkeypatch):
    hub.repos["org/private"] = Repo(llama31_files(), private=True)
    fails(run, "size org/private", hub.url, 2, "not on the Hugging Face Hub", "HF_TOKEN")
    fails(run, "size org/nothing-here", hub.url, 2, "org/nothing-here: not on the Hugging Face Hub")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert run.json("size", "org/private", "--seq", "1")["total_bytes"] == 131_072


def test_missing_revision_and_missing_config(run, hub):
    hub.repos["org/m"] = Repo(llama31_files())
    fails(run, "size org/m@nope", hub.url, 2, "the Hub has no revision 'nope'")
    hub.repos["org/empty"] = Repo({"README.md": b"hi"})
    fails(run, "size org/empty", hub.url, 2, "has no config.json and no GGUF file")


def test_offline_cache_miss_is_one_line(run, no_network, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = fails(run, "size meta-llama/Llama-9-1T", ".", 2, "not in the Hugging Face cache")
    assert "HF_HUB_OFFLINE is set" in line and "did you mean" in line


def test_unreachable_hub_is_one_line(run, monkeypatch):
    # conftest points HF_ENDPOINT at a closed port
    line = fails(run, "size org/anything", ".", 2, "cannot be reached", "HF_HUB_OFFLINE=1")
    assert "127.0.0.1:9" in line


HOSTILE_HUB = [
    ({"config.json": b"[1]"}, "org/x/config.json: expected a JSON object"),
    ({"config.json": b"{" * 10}, "org/x/config.json: not valid JSON"),
    ({"config.json": b" " * (16 * 2**20 + 10)}, "is more than 16,777,216"),
    (
        {"model.safetensors.index.json": b'{"weight_map": {"a": "../../etc/passwd"}}'},
        "weight_map names '../../etc/passwd', not a shard file",
    ),
    ({"model.safetensors": (2**40).to_bytes(8, "little")}, "header of 1,099,511,627,776 bytes"),
    ({"model.safetensors": (64).to_bytes(8, "little") + b"{}"}, "header cut short (2 of 64)"),
    ({"model.safetensors": b"\1"}, "too short for a safetensors header"),
]


@pytest.mark.parametrize(("files", "message"), HOSTILE_HUB, ids=[m for _, m in HOSTILE_HUB])
def test_hostile_hub_files_are_one_line(run, hub, files, message):
    base = {"config.json": llama31_files()["config.json"]}
    hub.repos["org/x"] = Repo({**base, **files})
    fails(run, "size org/x", hub.url, 2, message)


def test_hostile_cache_ref(run, cache, no_network):
    folder = cache / "models--org--x"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("../../../../etc")
    fails(run, "size org/x", str(cache), 2, "refs/main: expected a 40-character commit hash")


@pytest.mark.parametrize(
    "name", ["org/x@../../etc", "org/../x", "../x/y", "org/x:../../a.gguf", "org/x@-rev"]
)
def test_names_that_could_escape_are_not_repo_ids(run, no_network, name):
    result = run("size", name)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def gguf_bytes(tmp_path, name, *, vocab=0, weights=1024):
    """A small llama GGUF (4 layers, 8 heads, 2 KV heads, width 512: 4 x 2 x 64 x 2 x 2 B =
    2,048 B of fp16 cache per token), with `vocab` tokenizer strings to make its header
    long, and a tensor of `weights` fp32 values after it."""
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path / name
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("Tiny Llama")
    writer.add_block_count(4)
    writer.add_head_count(8)
    writer.add_head_count_kv(2)
    writer.add_embedding_length(512)
    writer.add_context_length(4096)
    if vocab:
        writer.add_token_list([f"token-{i:07d}" for i in range(vocab)])
    writer.add_tensor("token_embd.weight", np.zeros((weights // 16, 16), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def test_gguf_on_the_hub_reads_growing_ranges_of_the_header_only(run, hub, tmp_path):
    # 100,000 tokenizer strings: a 2.3 MB header, past the first 1 MiB read; then 16 MiB of
    # weights that are never read
    data = gguf_bytes(tmp_path, "m.gguf", vocab=100_000, weights=4 * 2**20)
    files = {"Tiny-Q4_K_M.gguf": data, "Tiny-Q8_0.gguf": b"GGUF", "mmproj-Q4_K_M.gguf": b"x"}
    hub.repos["org/Tiny-GGUF"] = Repo(files)
    out = run.json("size", "org/Tiny-GGUF:q4_k_m", "--seq", "1")
    assert out["total_bytes"] == 2048 and out["model"] == "tiny-q4_k_m"
    reads = [r for r in hub.log if r["path"].startswith("/cdn/")]
    assert [r["range"] for r in reads][:2] == ["bytes=0-1048575", "bytes=1048576-4194303"]
    assert sum(r["sent"] for r in reads) == 4 * 2**20  # of a 19 MB file: no weights read
    assert len(data) > 18 * 2**20
    params, nbytes, _, repo = checkpoint(run, "org/Tiny-GGUF:Q4_K_M")
    assert (params, nbytes, repo) == (4 * 2**20, 16 * 2**20, "org/Tiny-GGUF")


def test_gguf_selection(run, hub, tmp_path):
    data = gguf_bytes(tmp_path, "m.gguf")
    hub.repos["org/G"] = Repo({"a-Q4_K_M.gguf": data, "a-Q4_K_S.gguf": data, "sub/b.gguf": data})
    assert run.json("size", "org/G:a-Q4_K_S.gguf", "--seq", "1")["total_bytes"] == 2048
    assert run.json("size", "org/G:sub/b.gguf", "--seq", "1")["total_bytes"] == 2048
    fails(run, "size org/G:Q4_K", ".", 2, "no GGUF file in the repository matches 'Q4_K'",
          "give one of: org/G:Q4_K_M, org/G:Q4_K_S, org/G:b.gguf")  # fmt: skip
    fails(run, "size org/G", ".", 2, "3 GGUF files match; give one of")
    hub.repos["org/S"] = Repo({f"m-Q8_0-0000{i}-of-00002.gguf": data for i in (1, 2)})
    fails(run, "size org/S:Q8_0", ".", 2, "is split in 2 parts")
    hub.repos["org/one"] = Repo({"only.gguf": data, "mmproj.gguf": data})
    assert run.json("size", "org/one", "--seq", "1")["total_bytes"] == 2048


def test_gguf_header_past_the_limit_is_refused(run, hub, tmp_path, monkeypatch):
    from kvcalc.importers import hub as hub_module

    monkeypatch.setattr(hub_module, "MAX_GGUF_HEADER_FETCH", 2 * 2**20)
    hub.repos["org/big"] = Repo({"m.gguf": gguf_bytes(tmp_path, "m.gguf", vocab=200_000)})
    fails(run, "size org/big:m.gguf", ".", 2, "the GGUF header runs past 2,097,152 bytes")


def test_gguf_from_the_cache_offline(run, cache, no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = gguf_bytes(tmp_path, "m.gguf")
    write_cache(cache, "org/Tiny-GGUF", {"Tiny-Q4_K_M.gguf": data, "Tiny-Q8_0.gguf": data})
    assert run.json("size", "org/Tiny-GGUF:Q8_0", "--seq", "1")["total_bytes"] == 2048
    line = fails(run, "size org/Tiny-GGUF:Q2_K", ".", 2, "not in the Hugging Face cache")
    assert "HF_HUB_OFFLINE" in line


def test_hostile_cache_files_are_one_line(run, cache, no_network, tmp_path):
    import os

    snap = write_cache(cache, "org/zero", {"config.json": b"{}"})
    (snap / "config.json").unlink()
    (snap / "config.json").symlink_to("/dev/zero")
    fails(run, "size org/zero", ".", 2, "config.json: is a character device")
    folder = cache / "models--org--bigref"
    (folder / "refs").mkdir(parents=True)
    with (folder / "refs" / "main").open("wb") as handle:
        handle.truncate(2**30)  # 1 GiB on paper
    fails(run, "size org/bigref", ".", 2, "refs/main: 1,073,741,824 bytes is too large")
    snap = write_cache(cache, "org/fifo", {"x.txt": b""})
    os.mkfifo(snap / "m-Q4_0.gguf")
    fails(run, "size org/fifo:Q4_0", ".", 2, "m-Q4_0.gguf: is a named pipe")


def test_odd_homes_are_one_line_or_empty(run, tmp_path, monkeypatch, no_network):
    afile = tmp_path / "a-file"
    afile.write_text("")
    monkeypatch.setenv("HF_HUB_CACHE", str(afile))  # a file where a folder should be
    monkeypatch.setenv("KVCALC_HOME", str(afile))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run.json("size", "llama3-8b", "--seq", "1")["total_bytes"] == 131_072
    assert run("models").exit_code == 0
    fails(run, "size org/x", ".", 2, "not in the Hugging Face cache")
    fails(run, "import llama3-8b --save --id mine", ".", 2, "--save: cannot create")
