"""Output channels in a real process (issue 12, classes 3, 5 and 8): pipes, closed and
full streams are properties of file descriptors, which an in-process runner cannot have.

Each test starts `python -m kvcalc` once (~0.3 s); the in-process tables are in
test_hostile.py.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

KVCALC = [sys.executable, "-m", "kvcalc"]
ENV = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}


def start(args, **kwargs):
    return subprocess.run(
        [*KVCALC, *args], capture_output=kwargs.pop("capture", True), env=ENV, timeout=60, **kwargs
    )


def test_a_broken_pipe_exits_141_quietly():
    # the reader is gone before kvcalc writes a byte: EPIPE on the first write
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [*KVCALC, "models"], stdout=write, stderr=subprocess.PIPE, env=ENV, timeout=60
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == b""  # quiet: no error line, no "Exception ignored"


def test_with_stderr_closed_an_error_never_reaches_stdout():
    done = start(["size", "nosuch", "--json"], preexec_fn=lambda: os.close(2))
    assert done.returncode == 2
    assert done.stdout == b""


def test_with_stderr_closed_notes_never_reach_stdout(tmp_path):
    # an imported config prints notes (assumptions) on stderr; the JSON must stay JSON
    (tmp_path / "config.json").write_text(
        '{"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 256}'
    )
    done = start(["size", str(tmp_path / "config.json"), "--json"], preexec_fn=lambda: os.close(2))
    assert done.returncode == 0
    assert b"kvcalc: note" not in done.stdout
    assert json.loads(done.stdout)["num_layers"] == 2


def test_a_closed_stdout_is_an_error():
    done = start(["size", "llama3-8b"], preexec_fn=lambda: os.close(1))
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "kvcalc: error: cannot write the output: standard output is closed"
    ]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux /dev/full")
@pytest.mark.parametrize(
    "args", [["models"], ["size", "llama3-8b", "--json"], ["fit", "llama3-70b", "--mem", "24GB"]]
)
def test_stdout_on_a_full_disk_is_exit_2_naming_it(args):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*KVCALC, *args], stdout=full, stderr=subprocess.PIPE, env=ENV, timeout=60
        )
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "kvcalc: error: cannot write the output to standard output (/dev/full): "
        "no space left on device"
    ]


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_plot_out_on_a_full_disk_keeps_the_old_file(tmp_path):
    # a real failing write: the file-size limit stops the new PNG at 2,000 bytes
    pytest.importorskip("matplotlib")
    old = tmp_path / "chart.png"
    old.write_bytes(b"the old chart")
    done = start(
        ["plot", "llama3-8b", "--to", "64", "--points", "2", "--out", str(old), "--force"],
        preexec_fn=_file_size_limit(2000),
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and "cannot write (file too large)" in lines[0]
    assert old.read_bytes() == b"the old chart"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]
