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
