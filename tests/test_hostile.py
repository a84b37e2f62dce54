"""kvcalc under hostile input (issue 12): nothing hangs, nothing is misread, nothing is
overwritten.

One table per class of the issue.  Every row runs the real CLI in-process and asserts
the exit code, exactly one stderr line (`kvcalc: error: ...`) that names the file or the
field, an empty stdout, and no traceback.  `{d}` in a command is the folder the `hostile`
fixture fills; `{long}` is a 300-character name.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
from pathlib import Path

import pytest

from tests.conftest import Run

LONG = "x" * 300  # over NAME_MAX (255): os.stat raises ENAMETOOLONG, not "no such file"


def fails(run: Run, command: str, d: Path, code: int, *needles: str) -> str:
    """Run `command`; assert one clean error line containing every needle; return it."""
    args = shlex.split(command.replace("{d}", str(d)).replace("{long}", LONG))
    result = run(*args)
    lines = result.stderr.splitlines()
    assert result.exit_code == code, (command, result.exit_code, result.stderr[-500:])
    assert len(lines) == 1 and lines[0].startswith("kvcalc: error: "), (command, result.stderr)
    for needle in needles:
        assert needle.replace("{d}", str(d)) in lines[0], (command, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    if code == 2:
        assert result.stdout == "", (command, result.stdout[-300:])
    return lines[0]


TOY = {
    "model_type": "llama",
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "hidden_size": 512,
    "max_position_embeddings": 4096,
}
TOY_YAML = (
    "id: toy\nmax_context: 4096\nnum_layers: 4\nnum_query_heads: 8\nnum_kv_heads: 2\n"
    "hidden_size: 512\n"
)


def model_dir(d: Path, name: str, **changes: object) -> Path:
    folder = d / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**TOY, **changes}))
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    os.mkfifo(d / "fifo.yaml")
    os.mkfifo(d / "fifo.gguf")
    os.mkfifo(d / "fifo.json")
    os.mkfifo(d / "fifo.md")
    (d / "zero.md").symlink_to("/dev/zero")
    (d / "zero.yaml").symlink_to("/dev/zero")
    (d / "zero.gguf").symlink_to("/dev/zero")
    (d / "dir.yaml").mkdir()
    (d / "loop-a.yaml").symlink_to(d / "loop-b.yaml")
    (d / "loop-b.yaml").symlink_to(d / "loop-a.yaml")
    (d / "loop.gguf").symlink_to(d / "loop.gguf")
    (d / "dangling.yaml").symlink_to(d / "nowhere.yaml")
    model_dir(d, "zero-config")
    (d / "zero-config" / "config.json").unlink()
    (d / "zero-config" / "config.json").symlink_to("/dev/zero")
    model_dir(d, "fifo-config")
    (d / "fifo-config" / "config.json").unlink()
    os.mkfifo(d / "fifo-config" / "config.json")
    model_dir(d, "loop-config")
    (d / "loop-config" / "config.json").unlink()
    (d / "loop-config" / "config.json").symlink_to(d / "loop-config" / "config.json")
    model_dir(d, "fifo-shard")
    os.mkfifo(d / "fifo-shard" / "model.safetensors")
    model_dir(d, "zero-shard")
    (d / "zero-shard" / "model.safetensors").symlink_to("/dev/zero")
    model_dir(d, "loop-shard")
    (d / "loop-shard" / "model.safetensors").symlink_to(d / "loop-shard" / "model.safetensors")
    model_dir(d, "dir-shard")
    (d / "dir-shard" / "model.safetensors").mkdir()
    model_dir(d, "liar-shard")  # a header length of 2^40 bytes in a 16-byte file
    (d / "liar-shard" / "model.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}")
    model_dir(d, "short-shard")
    (d / "short-shard" / "model.safetensors").write_bytes((64).to_bytes(8, "little") + b"{}")
    model_dir(d, "no-config")
    (d / "no-config" / "config.json").unlink()
    with (d / "sparse.yaml").open("wb") as handle:  # 1 GiB on paper, nothing on disk
        handle.truncate(2**30)
    with (d / "sparse.json").open("wb") as handle:
        handle.truncate(2**30)
    (d / "long-dir").mkdir()
    model_dir(d, "llama3-8b")  # a local folder named like a shipped preset
    (d / "hardware").mkdir()
    (d / "toy.yaml").write_text(TOY_YAML)
    return d


# -- Class 1: unbounded reads.  Anything but a regular file (after links) is refused
# before a byte is read; no more than limit + 1 bytes are ever read.
UNBOUNDED = [
    ("size {d}/fifo.yaml", "fifo.yaml: is a named pipe (FIFO)"),
    ("size {d}/fifo.gguf", "fifo.gguf: is a named pipe (FIFO)"),
    ("size {d}/fifo.json", "fifo.json: is a named pipe (FIFO)"),
    ("size {d}/zero.yaml", "zero.yaml: is a character device"),
    ("size {d}/zero.gguf", "zero.gguf: is a character device"),
    ("size /dev/zero", "/dev/zero: is a character device"),
    ("size {d}/dir.yaml", "dir.yaml: directory has no config.json"),
    ("size {d}/zero-config", "zero-config/config.json: is a character device"),
    ("size {d}/fifo-config", "fifo-config/config.json: is a named pipe"),
    ("size {d}/fifo-shard", "model.safetensors: is a named pipe"),
    ("size {d}/zero-shard", "model.safetensors: is a character device"),
    ("size {d}/dir-shard", "model.safetensors: is a directory"),
    ("size {d}/liar-shard", "header of 1,099,511,627,776 bytes is too large"),
    ("size {d}/short-shard", "header cut short (2 of 64)"),
    ("size {d}/sparse.yaml", "sparse.yaml: 1,073,741,824 bytes is too large"),
    ("size {d}/sparse.json", "sparse.json: 1,073,741,824 bytes is too large"),
    ("check {d}/fifo.yaml", "fifo.yaml: is a named pipe"),
    ("check {d}/zero.yaml", "zero.yaml: is a character device"),
    ("check {d}/fifo.md", "fifo.md: is a named pipe (FIFO), expected a Markdown document"),
    ("check {d}/zero.md", "zero.md: is a character device"),
    ("import {d}/fifo-config", "config.json: is a named pipe"),
    ("compare {d}/toy.yaml {d}/fifo.yaml", "fifo.yaml: is a named pipe"),
]


@pytest.mark.parametrize(("command", "message"), UNBOUNDED, ids=[c for c, _ in UNBOUNDED])
def test_unbounded_reads_are_refused_unread(run, hostile, command, message):
    fails(run, command, hostile, 2, message)


def test_a_file_is_never_read_past_its_limit(tmp_path, monkeypatch):
    # /proc and growing files misreport their size: the read itself stops at limit + 1
    from kvcalc import files
    from kvcalc.errors import SpecError

    path = tmp_path / "grows.yaml"
    path.write_bytes(b"#" * 5000)
    real_fstat = os.fstat

    def fstat_says_empty(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 0, *st[7:]))

    monkeypatch.setattr(files.os, "fstat", fstat_says_empty)
    reads: list[int] = []
    real_open = files.os.fdopen

    def counting_fdopen(fd: int, mode: str) -> object:
        handle = real_open(fd, mode)
        read = handle.read

        class Counted:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

            def fileno(self) -> int:
                return handle.fileno()

            def read(self, n: int = -1) -> bytes:
                data = read(n)
                reads.append(len(data))
                return data

        return Counted()

    monkeypatch.setattr(files.os, "fdopen", counting_fdopen)
    with pytest.raises(SpecError, match=r"1,001\+ bytes is too large"):
        files.read_bounded(path, 1000, "a test file")
    assert sum(reads) == 1001


# -- Class 3 (files): every OSError is exit 2 naming the file, never 'internal error'.
OS_ERRORS = [
    ("size {long}.yaml", "file name too long"),
    ("size {d}/{long}.gguf", "file name too long"),
    ("size {d}/{long}/config.json", "file name too long"),
    ("size {d}/long-dir/{long}", "file name too long"),
    ("size {d}/loop-a.yaml", "loop-a.yaml: cannot read (too many levels of symbolic links)"),
    ("size {d}/loop.gguf", "loop.gguf: cannot read (too many levels of symbolic links)"),
    ("size {d}/loop-config", "config.json: cannot read (too many levels of symbolic links)"),
    ("size {d}/loop-shard", "model.safetensors: cannot read (too many levels of symbolic"),
    ("size {d}/dangling.yaml", "dangling.yaml: no such file"),
    ("size {d}/no-config", "no-config: directory has no config.json"),
    ("check {d}/loop-a.yaml", "loop-a.yaml: cannot read (too many levels"),
    ("import {d}/loop.gguf", "loop.gguf: cannot read (too many levels"),
]


@pytest.mark.parametrize(("command", "message"), OS_ERRORS, ids=[c for c, _ in OS_ERRORS])
def test_file_system_errors_name_the_file(run, hostile, command, message):
    fails(run, command, hostile, 2, message)


@pytest.mark.parametrize(
    ("command", "denied"),
    [
        ("size {d}/toy.yaml", "toy.yaml"),
        ("size {d}/llama3-8b", "config.json"),
        ("size {d}/liar-shard", "model.safetensors"),
        ("check {d}/toy.yaml", "toy.yaml"),
    ],
)
def test_permission_denied_names_the_file(run, hostile, monkeypatch, command, denied):
    # tests may run as root, whom chmod does not stop: the refusal is simulated at open()
    from kvcalc import files

    real_open = files.os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(denied):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", refuse)
    fails(run, command, hostile, 2, f"{denied}: cannot read (permission denied)")


# -- Class 6: the wrong thing loaded.  An existing path is that path; a preset is found
# only among the presets' own names; a path that does not exist is "no such file".
WRONG_THING = [
    ("size ../hardware", "../hardware: no such file or directory"),
    ("size /tmp/x/EVIL", "/tmp/x/EVIL: no such file or directory"),
    ("size /tmp/x/EVIL.yaml", "no such file or directory"),
    ("size ./LLAMA3-8B", "./LLAMA3-8B: no such file or directory"),
    ("size ../configs/models/llama3-8b", "no such file or directory"),
    ("size ~/llama3-8b.yaml", "no such file or directory"),
    ("size llama3-8b/../llama3-70b", "unknown model"),
    ("size {d}/hardware", "hardware: directory has no config.json"),
    ("size 'llama3 8b'", "unknown model 'llama3 8b'"),
    ("size ''", "empty"),
    ("size {long}", f"unknown model '{LONG[:60]}...' (300 characters)"),
    ("fit llama3-8b --gpu ../h100", "unknown GPU '../h100'"),
    ("fit llama3-8b --gpu h.100", "unknown GPU 'h.100'"),
]


@pytest.mark.parametrize(("command", "message"), WRONG_THING, ids=[c for c, _ in WRONG_THING])
def test_names_never_reach_another_file(run, hostile, command, message):
    fails(run, command, hostile, 2, message)


def test_a_local_folder_is_that_folder_not_the_preset(run, hostile, monkeypatch):
    # the folder holds a 4-layer toy: 4 x 2 heads x 64 dims x 2 (K, V) x 2 B = 2,048 B/token
    monkeypatch.chdir(hostile)
    for name in ("./llama3-8b", "llama3-8b", str(hostile / "llama3-8b")):
        result = run("size", name, "--seq", "1", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["bytes_per_token"] == 2048, name
    note = run("size", "llama3-8b", "--seq", "1").stderr
    assert "read as the local path of that name, not the preset llama3-8b" in note
    # elsewhere the same word is the preset: 32 layers x 8 x 128 x 2 x 2 B = 131,072 B/token
    monkeypatch.chdir(hostile / "hardware")
    assert run.json("size", "llama3-8b", "--seq", "1")["bytes_per_token"] == 131_072


def test_preset_ids_match_case_insensitively_only_among_presets(run):
    for name in ("LLAMA3-8B", "Llama3-8b", "META-LLAMA/META-LLAMA-3-8B"):
        assert run.json("size", name, "--seq", "1")["model"] == "llama3-8b", name


# -- Class 4: silently misread values.  An integer field takes an integer (never a bool, a
# fraction, NaN or infinity); a present-but-invalid field is an error naming it, never
# "absent"; YAML booleans are not numbers and a key written twice is an error.
def config(d: Path, name: str, **changes: object) -> str:
    text = json.dumps({**TOY, **changes}).replace('"NaN"', "NaN").replace('"Inf"', "Infinity")
    (d / f"{name}.json").write_text(text)
    return str(d / f"{name}.json")


CONFIG_VALUES = [
    ({"num_key_value_heads": "NaN"}, "num_key_value_heads must be a positive integer, got NaN"),
    (
        {"num_key_value_heads": "Inf"},
        "num_key_value_heads must be a positive integer, got Infinity",
    ),
    ({"num_key_value_heads": "two"}, 'num_key_value_heads must be a positive integer, got "two"'),
    ({"num_key_value_heads": 2.5}, "num_key_value_heads must be a positive integer, got 2.5"),
    ({"num_key_value_heads": True}, "num_key_value_heads must be a positive integer, got true"),
    ({"num_key_value_heads": 0}, "num_key_value_heads must be at least 1, got 0"),
    ({"head_dim": 128.0}, "head_dim must be a positive integer, got 128.0"),
    ({"head_dim": -64}, "head_dim must be at least 1, got -64"),
    ({"head_dim": "NaN"}, "head_dim must be a positive integer, got NaN"),
    ({"head_dim": "128"}, 'head_dim must be a positive integer, got "128"'),
    ({"sliding_window": True}, "sliding_window must be a positive integer, got true"),
    ({"sliding_window": 1.5}, "sliding_window must be a positive integer, got 1.5"),
    ({"sliding_window": "4k"}, 'sliding_window must be a whole number, got "4k"'),
    ({"sliding_window": " 4096"}, 'sliding_window must be a whole number, got " 4096"'),
    ({"max_window_layers": False}, "max_window_layers must be a whole number, got false"),
    ({"sliding_window": -1}, "sliding_window must be at least 1, got -1"),
    ({"num_hidden_layers": True}, "num_hidden_layers must be a positive integer, got true"),
    ({"num_hidden_layers": 4.0}, "num_hidden_layers must be a positive integer, got 4.0"),
    ({"num_attention_heads": "8"}, 'num_attention_heads must be a positive integer, got "8"'),
    ({"max_position_embeddings": -1}, "max_position_embeddings must be at least 1, got -1"),
    ({"max_position_embeddings": "Inf"}, "max_position_embeddings must be a positive integer"),
    ({"model_type": "falcon", "multi_query": 1}, "multi_query must be true or false, got 1"),
    ({"use_sliding_window": "false", "sliding_window": 64}, "use_sliding_window must be true"),
    ({"layer_types": "full_attention"}, "layer_types must be a list of layer kinds"),
    ({"layer_types": [1, 2, 3, 4]}, "layer_types entry 0 must be a string, got 1"),
    ({"layer_types": ["full_attention"] * 3}, "layer_types has 3 entries for 4 layers"),
    ({"text_config": "x"}, 'text_config must be an object, got "x"'),
    ({"text_config": {"num_key_value_heads": "NaN"}}, "text_config.num_key_value_heads must be"),
    ({"_name_or_path": 7}, "_name_or_path must be a string, got 7"),
    ({"vocab_size": -5, "intermediate_size": 64}, "vocab_size must be at least 1, got -5"),
    ({"kv_lora_rank": 512.0}, "kv_lora_rank must be a positive integer, got 512.0"),
]


@pytest.mark.parametrize(("changes", "message"), CONFIG_VALUES, ids=[m for _, m in CONFIG_VALUES])
def test_config_json_values_are_read_strictly(run, tmp_path, changes, message):
    fails(
        run, "size " + config(tmp_path, "config", **changes), tmp_path, 2, "config.json: ", message
    )


def test_a_string_window_is_read_where_real_exports_write_one(run, tmp_path):
    # Mistral's params.json sometimes writes sliding_window as a string, and converters copy
    # it (transformers, models/mistral/convert_mistral_weights_to_hf.py, convert_config:
    # "This may sometimes be a string in `params.json`").  Mistral 7B v0.1's shape, window
    # "4096": 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 B = 131,072 B per token, and a
    # request of 32,768 tokens keeps 4,096 of them: 131,072 x 4,096 = 536,870,912 B.
    mistral = {
        "model_type": "mistral",
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "hidden_size": 4096,
        "max_position_embeddings": 32768,
        "sliding_window": "4096",
    }
    (tmp_path / "config.json").write_text(json.dumps(mistral))
    data = run.json("size", str(tmp_path / "config.json"), "--seq", "32768")
    assert data["total_bytes"] == 536_870_912


YAML_VALUES = [
    ("num_layers: yes", "num_layers: Input should be a valid integer (got true, a boolean"),
    ("num_layers: 4.0", "num_layers: Input should be a valid integer (got 4.0, a decimal"),
    ("num_layers: '4'", "num_layers: Input should be a valid integer (got '4')"),
    ("num_layers: .nan", "num_layers: Input should be a valid integer (got nan"),
    ("num_layers: .inf", "num_layers: Input should be a valid integer (got inf"),
    ("num_layers: 4\nnum_layers: 8", "duplicate key 'num_layers' (first on line 3)"),
    ("num_layers: " + "9" * 5000, "Exceeds the limit (4300 digits)"),
    ("num_layers: 10000000", "num_layers: Input should be less than or equal to 1000000"),
    ("num_layers: 4\nhead_dim: no", "head_dim: Input should be a valid integer (got false"),
    ("num_layers: 4\nsliding_window: on", "sliding_window: Input should be a valid integer"),
    ("num_layers: 4\nparams: 1.5e9", "params: Input should be a valid integer (got '1.5e9')"),
]


@pytest.mark.parametrize(("line", "message"), YAML_VALUES, ids=[m for _, m in YAML_VALUES])
def test_yaml_values_are_read_strictly(run, tmp_path, line, message):
    body = TOY_YAML.replace("num_layers: 4\n", line + "\n")
    (tmp_path / "m.yaml").write_text(body)
    fails(run, "size {d}/m.yaml", tmp_path, 2, "m.yaml:", message)


def gguf(path: Path, **fields: tuple[str, object]) -> Path:
    """A small llama GGUF; each keyword replaces (or, with None, drops) one metadata key."""
    from gguf import GGUFWriter

    base: dict[str, tuple[str, object] | None] = {
        "block_count": ("add_uint32", 4),
        "attention.head_count": ("add_uint32", 8),
        "attention.head_count_kv": ("add_uint32", 2),
        "embedding_length": ("add_uint32", 512),
        "context_length": ("add_uint32", 4096),
    }
    base.update(fields)
    writer = GGUFWriter(str(path), "llama")
    for key, how in base.items():
        if how is not None:
            method, value = how
            getattr(writer, method)(f"llama.{key.replace('__', '.')}", value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


GGUF_VALUES = [
    ({"block_count": ("add_float32", 4.7)}, "llama.block_count must be an integer, got FLOAT32"),
    ({"block_count": ("add_uint32", 0)}, "llama.block_count must be at least 1, got 0"),
    ({"block_count": ("add_string", "4")}, "llama.block_count must be an integer, got STRING '4'"),
    ({"block_count": ("add_bool", True)}, "llama.block_count must be an integer, got BOOL True"),
    (
        {"attention.head_count_kv": ("add_float32", 2.9)},
        "llama.attention.head_count_kv must be an integer, got FLOAT32",
    ),
    (
        {"attention.key_length": ("add_uint32", 0)},
        "llama.attention.key_length must be at least 1, got 0",
    ),
    (
        {"attention.head_count_kv": ("add_array", [2, 2, 2])},
        "llama.attention.head_count_kv has 3 entries for 4 layers",
    ),
    (
        {"attention.head_count_kv": ("add_array", [2.0, 2.0, 2.0, 2.0])},
        "llama.attention.head_count_kv must hold integers, got ARRAY of 4 FLOAT32",
    ),
    ({"context_length": ("add_int32", -1)}, "llama.context_length must be at least 1, got -1"),
    (
        {"block_count": ("add_uint64", 10**7)},
        "llama.block_count 10,000,000 is over kvcalc's limit of 1,000,000",
    ),
    (
        {"attention.head_count": ("add_uint32", 0)},
        "llama.attention.head_count is 0 for every layer",
    ),
]


@pytest.mark.parametrize(("fields", "message"), GGUF_VALUES, ids=[m for _, m in GGUF_VALUES])
def test_gguf_values_are_read_by_their_type(run, tmp_path, fields, message):
    gguf(tmp_path / "m.gguf", **fields)
    fails(run, "size {d}/m.gguf", tmp_path, 2, "m.gguf: ", message)


# -- Class 2: work before limits.  Every limit is checked on the value as written, before
# anything is built from it, and every per-layer pass is linear.  Bounds are on calls and
# loop iterations, never on seconds.
class Calls:
    """Counts the calls of a function it replaces (and still calls it)."""

    def __init__(self, real=None):
        self.real, self.count = real, 0

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self.real(*args, **kwargs) if self.real else None


def test_ten_million_layers_are_refused_before_any_per_layer_work(run, tmp_path, monkeypatch):
    from kvcalc import sizing
    from kvcalc.importers import gguf_file, hf

    kinds, gguf_kinds, sized = Calls(hf.layer_kinds), Calls(gguf_file._kinds), Calls(sizing.size)
    monkeypatch.setattr(hf, "layer_kinds", kinds)
    monkeypatch.setattr(gguf_file, "_kinds", gguf_kinds)
    monkeypatch.setattr(sizing, "size", sized)
    fails(
        run, "size " + config(tmp_path, "c", num_hidden_layers=10**7), tmp_path, 2,
        "num_hidden_layers 10,000,000 is over kvcalc's limit of 1,000,000",
    )  # fmt: skip
    gguf(tmp_path / "m.gguf", block_count=("add_uint64", 10**7))
    fails(run, "size {d}/m.gguf", tmp_path, 2, "block_count 10,000,000 is over")
    (tmp_path / "r.yaml").write_text(
        TOY_YAML.replace("num_layers: 4", "num_layers: 4\nlayers:\n  - kind: repeat\n"
                         "    times: 1000000000000\n    layers: [{kind: full, count: 1}]")
    )  # fmt: skip
    fails(run, "size {d}/r.yaml", tmp_path, 2, "layer groups once repeats are unrolled")
    assert (kinds.count, gguf_kinds.count, sized.count) == (0, 0, 0)


def test_a_30000_layer_gguf_is_one_pass(run, tmp_path, monkeypatch):
    # a max() over the layers inside the per-layer loop made this 30,000^2 steps (14 s)
    from kvcalc.importers import gguf_file

    kv = [8, 4] * 15_000  # alternating KV heads: 30,000 runs, refused as too many groups
    gguf(tmp_path / "m.gguf", block_count=("add_uint32", 30_000),
         **{"attention.head_count_kv": ("add_array", kv)})  # fmt: skip
    maxes = Calls(max)
    monkeypatch.setattr(gguf_file, "max", maxes, raising=False)
    fails(run, "size {d}/m.gguf", tmp_path, 2, "30,000 runs of identical layers")
    assert maxes.count <= 3  # the heads, the KV heads: once each, not once per layer
    kv = [8] * 15_000 + [4] * 15_000  # two runs: answers
    gguf(tmp_path / "two.gguf", block_count=("add_uint32", 30_000),
         **{"attention.head_count_kv": ("add_array", kv)})  # fmt: skip
    maxes.count = 0
    # 15,000 x (8 + 4) heads x 64 dims x 2 (K, V) x 2 B = 46,080,000 B per token
    assert run.json("size", str(tmp_path / "two.gguf"), "--seq", "1")["total_bytes"] == 46_080_000
    assert maxes.count <= 3


class CountingList(list):
    """A list that counts item reads: the work of an algorithm that reads its input."""

    reads = 0

    def __getitem__(self, index):
        CountingList.reads += 1
        return super().__getitem__(index)


@pytest.mark.parametrize("n", [4_000, 40_000])
def test_compress_is_linear_in_layers(monkeypatch, n):
    # a^k b a^k c: every shift p <= k matches k - p layers before failing, so trying each
    # period in turn reads ~k^2/2 items (2,000,000 at n = 4,000); the Z-array reads O(n)
    from kvcalc.importers import common

    a, b, c = ({"kind": "full", "count": 1, "num_kv_heads": h} for h in (1, 2, 4))
    k = n // 2 - 1
    layers = [a] * k + [b] + [a] * k + [c]
    real = common._shortest_period
    CountingList.reads = 0
    monkeypatch.setattr(common, "_shortest_period", lambda keys: real(CountingList(keys)))
    groups = common.compress(layers)
    assert [g["count"] for g in groups] == [k, 1, k, 1]
    assert CountingList.reads <= 8 * n


def test_decimals_are_bounded_before_any_fraction_is_built(run, monkeypatch):
    # --util 1e-100000000 built a Fraction with a 10^8-digit denominator and ran for minutes
    from kvcalc import units

    built = Calls(units.Fraction)
    monkeypatch.setattr(units, "Fraction", built)
    for util in ("1e-100000000", "0." + "0" * 100 + "1", "NaN", "\uff10.\uff19", "1_e5"):
        fails(run, f"fit llama3-8b --mem 24GB --util {util}", Path("."), 2, "--util")
    assert built.count == 0


def test_heads_past_the_limit_are_refused_before_dial_divides(run, tmp_path, monkeypatch):
    # 10^18 query heads: divisors() trial-divides to the square root, 10^9 steps
    from kvcalc import sizing

    divided = Calls(sizing.divisors)
    monkeypatch.setattr(sizing, "divisors", divided)
    body = TOY_YAML.replace("num_query_heads: 8", "num_query_heads: 1000000000000000000")
    (tmp_path / "h.yaml").write_text(
        body.replace("hidden_size: 512", "hidden_size: 512\nhead_dim: 64")
    )
    fails(
        run,
        "dial {d}/h.yaml",
        tmp_path,
        2,
        "num_query_heads: Input should be less than or equal to 65536",
    )
    assert divided.count == 0


def test_the_parameter_estimate_does_not_loop_over_layers(monkeypatch):
    # 10^6 layers of DeepSeek-style MoE: two products (dense, MoE), not a million sums
    from kvcalc.importers import hf

    extras = Calls(hf.family_extras)
    monkeypatch.setattr(hf, "family_extras", extras)
    big = {
        **TOY,
        **{"num_hidden_layers": 10**6, "vocab_size": 1000, "intermediate_size": 64},
        **{"n_routed_experts": 8, "first_k_dense_replace": 3, "moe_intermediate_size": 32},
    }
    spec, _ = hf.spec_from_config(big, "config.json", "big")
    assert hf.estimate_params(big, spec) > 0 and extras.count == 2


# -- Class 9: `kvcalc check` inputs, with the same strictness.
CLAIM = (
    "claims:\n  - id: c1\n    source: s\n    says: s\n    model: llama3-8b\n"
    "    quantity: total_bytes\n    seq: 2048\n    batch: 1\n    published: '268.44 MB'\n"
    "    expect: within rounding\n"
)
TOKENS = "quantity: engine_tokens\n    kv_budget: "
CLAIM_VALUES = [
    ("published: '268.44 MB'", "published: '1,,,,2 GB'", "claim c1: published value '1,,,,2 GB'"),
    ("published: '268.44 MB'", "published: '1,2 GB'", "published value '1,2 GB' is not a number"),
    ("published: '268.44 MB'", "published: '1e9'", "published value '1e9' is not a number"),
    ("published: '268.44 MB'", "published: '\uff12GB'", "is not a number"),
    ("published: '268.44 MB'", "published: '9" + "9" * 40 + "'", "more than 30 digits"),
    ("quantity: total_bytes", TOKENS + "'1e9'", "kv_budget: cannot read size '1e9'"),
    ("quantity: total_bytes", TOKENS + "'24'", "kv_budget: size '24' has no unit"),
    ("quantity: total_bytes", TOKENS + "8000000000", "kv_budget: Input should be a valid string"),
    ("seq: 2048", "seq: yes", "seq: Input should be a valid integer (got true, a boolean"),
    ("batch: 1", "batch: 2.5", "batch: Input should be a valid integer (got 2.5"),
    ("batch: 1", "batch: 1\n    batch: 2", "duplicate key 'batch'"),
    ("seq: 2048", "seq: *factor", "line 7 invalid YAML: found undefined alias"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "message"), CLAIM_VALUES, ids=[m for _, _, m in CLAIM_VALUES]
)
def test_claims_are_read_as_strictly_as_models(run, tmp_path, old, new, message):
    (tmp_path / "claims.yaml").write_text(CLAIM.replace(old, new))
    fails(run, "check {d}/claims.yaml", tmp_path, 2, "claims.yaml", message)


def test_a_star_inside_a_note_is_text_not_an_alias(run, tmp_path):
    # 20 words like '*factor' in prose: the parser, not a regex, decides what an alias is
    note = "    note: " + " ".join(f"grows by *factor{i}" for i in range(20)) + "\n"
    (tmp_path / "claims.yaml").write_text(CLAIM + note)
    result = run("check", str(tmp_path / "claims.yaml"))
    assert result.exit_code == 0, result.stderr
    assert "c1" in result.stdout


# -- Class 5: unsafe writes.  plot --out writes a temporary file in the same folder and
# renames it; an existing FILE is replaced only with --force; a link at FILE is never
# followed; on any failure the old file is intact and no temporary file is left.
OLD = b"old plot, keep me"
PLOT = "plot llama3-8b --to 64 --points 2 --out"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "old.png").write_bytes(OLD)
    (tmp_path / "target.txt").write_bytes(OLD)
    (tmp_path / "link.png").symlink_to(tmp_path / "target.txt")
    (tmp_path / "dangling.svg").symlink_to(tmp_path / "nowhere.svg")
    (tmp_path / "dir.png").mkdir()
    os.mkfifo(tmp_path / "fifo.png")
    return tmp_path


UNSAFE_WRITES = [
    (f"{PLOT} {{d}}/old.png", "old.png: already exists; add --force to replace it"),
    (f"{PLOT} {{d}}/link.png", "link.png: already exists; add --force"),
    (f"{PLOT} {{d}}/dangling.svg", "dangling.svg: already exists; add --force"),
    (f"{PLOT} {{d}}/dir.png", "dir.png: is a directory"),
    (f"{PLOT} {{d}}/dir.png --force", "dir.png: is a directory"),
    (f"{PLOT} {{d}}/fifo.png", "fifo.png: already exists"),
    (f"{PLOT} {{d}}/fifo.png --force", "fifo.png: is a named pipe (FIFO); not replaced"),
    (f"{PLOT} {{d}}/no/such/c.png", "does not exist"),
    (f"{PLOT} {{d}}/old.png/c.png", "does not exist"),
    (f"{PLOT} {{d}}/{{long}}.png", "file name too long"),
]


@pytest.mark.parametrize(("command", "message"), UNSAFE_WRITES, ids=[m for _, m in UNSAFE_WRITES])
def test_plot_out_refuses_to_damage_files(run, folder, command, message):
    before = sorted(p.name for p in folder.iterdir())
    fails(run, command, folder, 2, "--out", message)
    assert (folder / "old.png").read_bytes() == OLD
    assert (folder / "target.txt").read_bytes() == OLD
    assert sorted(p.name for p in folder.iterdir()) == before  # no temporary file left


def test_force_replaces_a_file_and_a_link_itself(run, folder):
    result = run(*shlex.split(f"{PLOT} {folder}/old.png --force"))
    assert result.exit_code == 0, result.stderr
    assert (folder / "old.png").read_bytes().startswith(b"\x89PNG")
    result = run(*shlex.split(f"{PLOT} {folder}/link.png --force"))
    assert result.exit_code == 0, result.stderr
    assert not (folder / "link.png").is_symlink()  # the link itself was replaced ...
    assert (folder / "target.txt").read_bytes() == OLD  # ... and its target never written
    mode = (folder / "old.png").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # as readable as any new file, not mkstemp's 0600
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("force", [False, True])
def test_a_failed_write_leaves_the_old_file_whole(run, folder, monkeypatch, force):
    # the disk fills half-way through the image: the old file is untouched, no temp is left
    from kvcalc import files

    real = files.os.fdopen

    def full_disk(fd, mode):
        handle = real(fd, mode)
        write = handle.write

        def half_then_enospc(data):
            write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        handle.write = half_then_enospc
        return handle

    monkeypatch.setattr(files.os, "fdopen", full_disk)
    target = "old.png" if force else "new.png"
    flags = " --force" if force else ""
    before = sorted(p.name for p in folder.iterdir())
    fails(run, f"{PLOT} {{d}}/{target}{flags}", folder, 2, "cannot write (no space left on device)")
    assert (folder / "old.png").read_bytes() == OLD
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_file_that_appears_meanwhile_is_not_clobbered(tmp_path):
    # between the check and the rename another process creates FILE: link() refuses
    from kvcalc import files
    from kvcalc.errors import UsageError

    dest = tmp_path / "c.png"

    def racing_write(handle):
        dest.write_bytes(OLD)
        handle.write(b"new")

    with pytest.raises(UsageError, match="already exists"):
        files.write_new(dest, racing_write, force=False, flag="--out")
    assert dest.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


# -- Class 7: loose grammar.  Empty values are errors; one number grammar everywhere
# (ASCII digits, single underscores between digits); a size needs a unit.
GRAMMAR = [
    ("size llama3-8b --kv-dtype ''", "--kv-dtype: empty value"),
    ("size llama3-8b --k-dtype ' '", "--k-dtype: empty value"),
    ("size llama3-8b --v-dtype=", "--v-dtype: empty value"),
    ("fit llama3-8b --mem 24GB --weights ''", "--weights: empty value"),
    ("decode llama3-8b --gpu h100 --weights=", "--weights: empty value"),
    ("size llama3-8b --engine ''", "--engine: empty value"),
    ("size llama3-8b --attention ''", "--attention: empty value"),
    ("fit llama3-8b --gpu ''", "--gpu: empty value"),
    ("fit llama3-8b --mem 24GB --device ''", "--device: empty value"),
    ("plot llama3-8b --x ''", "--x: empty value"),
    ("plot llama3-8b --out ''", "--out: empty value"),
    ("size llama3-8b -b ''", "-b: empty value"),
    ("size ''", "an empty argument"),
    ("compare llama3-8b ' '", "an empty argument"),
    ("fit llama3-8b --mem 24GB --util \uff10.\uff19", "--util: cannot read number"),
    ("fit llama3-8b --mem 24GB --util 1e-100000000", "--util: cannot read number"),
    ("fit llama3-8b --mem 24GB --util .9", "--util: cannot read number"),
    ("size llama3-8b --seq 2__048", "--seq: cannot read count '2__048'"),
    ("size llama3-8b --seq 2048_", "--seq: cannot read count"),
    ("size llama3-8b --seq \uff12\uff10\uff14\uff18", "--seq: cannot read count"),
    ("size llama3-8b --batch 1e3", "--batch: cannot read count"),
    ("fit llama3-8b --mem 1_GB", "--mem: cannot read size '1_GB'"),
    ("fit llama3-8b --mem 24", "--mem: size '24' has no unit: write 24GB (x10^9) or 24GiB"),
    ("fit llama3-8b --mem 24GB --overhead 1.5", "--overhead: size '1.5' has no unit"),
    ("decode llama3-8b --bandwidth 819", "--bandwidth: size '819' has no unit"),
    ("fit llama3-8b --mem 24GB --tp \uff12", "--tp: cannot read whole number"),
    ("fit llama3-8b --mem 24GB --gpus 1__0", "--gpus: cannot read whole number '1__0'"),
    ("size llama3-8b --kv-heads 8_", "Invalid value for '--kv-heads'"),
    ("plot llama3-8b --points 1e1", "Invalid value for '--points'"),
    ("size llama3-8b --engine vllm --block-size 1.6e1", "--block-size: cannot read whole number"),
]


@pytest.mark.parametrize(("command", "message"), GRAMMAR, ids=[m for _, m in GRAMMAR])
def test_one_grammar_and_no_empty_values(run, command, message):
    fails(run, command, Path("."), 2, message)


# -- Class 3 (values): whatever the user typed is exit 2 naming it, never 'internal error'.
VALUE_ERRORS = [
    ("fit llama3-8b --mem 24GB --tp " + "9" * 5000, "more than 30 digits"),
    ("size llama3-8b --kv-heads " + "9" * 5000, "more than 30 digits"),
    ("size llama3-8b --seq " + "9" * 5000, "--seq: 99999999999999999999...: more than 30 digits"),
    ("fit llama3-8b --mem " + "9" * 4400 + "GB", "--mem: 99999999999999999999..."),
    ("plot llama3-8b --points " + "9" * 31, "Invalid value for '--points'"),
    ("size llama3-8b --kv-heads 99999999999999999999", "does not divide 32"),
    ("fit llama3-8b --gpu 'h100\x00'", "unknown GPU"),
    ("size 'llama3-8b\x00.yaml'", "a file name cannot contain a NUL byte"),
]


@pytest.mark.parametrize(("command", "message"), VALUE_ERRORS, ids=[m for _, m in VALUE_ERRORS])
def test_hostile_values_are_usage_errors(run, command, message):
    fails(run, command, Path("."), 2, message)


# -- Class 8: output channels (the process-level half is in test_channels.py).
WIDE: dict[str, object] = {}


def numbers(text: str) -> set[str]:
    import re

    return set(re.findall(r"\d[\d,]*(?:\.\d+)?", text))


@pytest.mark.parametrize(
    "command",
    [
        "size llama3-70b --seq 1000000000000 --batch 1000000",
        "fit llama3-70b --gpu h100 --gpus 8",
        "dial llama3-8b --gpu h100",
        "size gemma-3-27b --explain",
        "gpus",
    ],
)
@pytest.mark.parametrize("columns", ["0", "1", "12", "abc", "-5", ""])
def test_any_terminal_width_prints_every_number(command, columns):
    from typer.testing import CliRunner

    from kvcalc.cli import app

    args = shlex.split(command)
    if command not in WIDE:  # the reference, rendered once per command
        WIDE[command] = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1"}).invoke(app, args)
    wide = WIDE[command]
    narrow = CliRunner(env={"COLUMNS": columns, "NO_COLOR": "1"}).invoke(app, args)
    assert narrow.exit_code == wide.exit_code == 0, narrow.stderr
    assert numbers(wide.stdout) <= numbers(narrow.stdout)
    assert "\u2026" not in narrow.stdout  # no number cut with an ellipsis


def test_a_question_with_no_answer_exits_1(run):
    # 17 GB, all of it usable, no overhead: the weights (16.06 GB) leave 939.48 MB of KV,
    # 7,167 tokens, so not one request of 8,192 fits: exit 1 and say so, never "fits"
    result = run("fit", "llama3-8b", "--mem", "17GB", "--util", "1", "--overhead", "0",
                 "--seq", "8192")  # fmt: skip
    assert result.exit_code == 1
    assert "not one request of 8,192 tokens fits" in result.stderr
    data = run("fit", "llama3-8b", "--mem", "17GB", "--util", "1", "--overhead", "0",
               "--seq", "8192", "--json")  # fmt: skip
    assert data.exit_code == 1 and json.loads(data.stdout)["fits"] is False
