"""The error contract, as a whole: every bad invocation is one stderr line and an exit code.

2: the question was malformed (fix the input); 1: a valid question with no answer.
Never a traceback.  Paths in {braces} are files the fixture writes.
"""

from __future__ import annotations

import json
import shlex

import pytest

BAD = [
    # size: counts, formats, heads, engines
    ("size nosuch", 2, "unknown model 'nosuch'"),
    ("size llama3-8b --seq abc", 2, "--seq: cannot read count"),
    ("size llama3-8b --seq 0", 2, "--seq must be at least 1"),
    ("size llama3-8b --seq=-5", 2, "--seq: cannot read count"),
    ("size llama3-8b --seq 1.5k", 2, "--seq: cannot read count"),
    ("size llama3-8b --seq " + "9" * 40, 2, "more than 30 digits"),
    ("size llama3-8b --batch 0", 2, "--batch must be at least 1"),
    ("size llama3-8b --batch many", 2, "--batch: cannot read count"),
    ("size llama3-8b --kv-dtype fp7", 2, "unknown KV cache dtype 'fp7'; did you mean fp8"),
    ("size llama3-8b --k-dtype q9_0", 2, "unknown KV cache dtype 'q9_0'"),
    ("size llama3-8b --kv-heads 3", 2, "--kv-heads 3 does not divide 32"),
    ("size llama3-8b --kv-heads 0", 2, "does not divide"),
    ("size llama3-8b --kv-heads x", 2, "Invalid value for '--kv-heads'"),
    ("size llama3-8b --attention gqa", 2, "--attention must be mha or mqa"),
    ("size llama3-8b --kv-heads 8 --attention mha", 2, "not both"),
    ("size deepseek-v3 --kv-heads 8", 2, "no per-head K/V"),
    ("size llama3-8b --engine nope", 2, "unknown engine 'nope'"),
    ("size llama3-8b --engine vllm --kv-dtype q4_0", 2, "vllm has no q4_0 K cache"),
    ("size llama3-8b --engine sglang --k-dtype fp8", 2, "one cache dtype for K and V"),
    ("size llama3-8b --block-size 16", 2, "sglang, sglang-0.4 and tensorrt-llm"),
    ("size llama3-8b --engine vllm --block-size 0", 2, "between 1 and"),
    ("size llama3-8b --engine transformers --kv-dtype q8_0", 2, "QuantizedCache"),
    ("size", 2, "Missing argument 'MODEL'"),
    ("size llama3-8b --frobnicate", 2, "No such option"),
    # size: files
    ("size {dir}/missing.yaml", 2, "no such file"),
    ("size {dir}/empty", 2, "empty"),
    ("size {dir}/broken.yaml", 2, "invalid YAML"),
    ("size {dir}/bomb.yaml", 2, "alias references"),
    ("size {dir}/pyobj.yaml", 2, "construct Python objects"),
    ("size {dir}/deep.yaml", 2, "invalid YAML"),
    ("size {dir}/list.yaml", 2, "expected a mapping"),
    ("size {dir}/heads.yaml", 2, "not divisible"),
    ("size {dir}/latin1.yaml", 2, "cannot read"),
    ("size {dir}/huge.yaml", 2, "too large"),
    ("size {dir}/deep.json", 2, "nested too deeply"),
    ("size {dir}/broken.json", 2, "not valid JSON"),
    ("size {dir}/array.json", 2, "expected a JSON object"),
    ("size {dir}/huge.json", 2, "too large"),
    ("size {dir}/notes.txt", 2, "unsupported model file type"),
    ("size {dir}/short.gguf", 2, "not a readable GGUF file"),
    ("size {dir}/liar.gguf", 2, "not a readable GGUF file"),
    # dial
    ("dial deepseek-v3", 2, "no per-head K/V"),
    ("dial llama3-8b --gpu nosuch", 2, "unknown GPU"),
    ("dial llama3-8b --mem 24XB", 2, "--mem: cannot read size"),
    ("dial llama3-8b --mem 24GB --tp 3", 2, "tensor parallel size 3"),
    # fit
    ("fit llama3-8b", 2, "give --mem SIZE"),
    ("fit llama3-8b --mem 0", 2, "--mem must be more than 0"),
    ("fit llama3-8b --mem '24 GBs'", 2, "--mem: cannot read size"),
    ("fit llama3-8b --mem 1.5B", 2, "not a whole number of bytes"),
    ("fit llama3-8b --gpu h1000", 2, "unknown GPU 'h1000'"),
    ("fit llama3-8b --mem 24GB --util 1.5", 2, "--util must be in (0, 1]"),
    ("fit llama3-8b --mem 24GB --util abc", 2, "--util"),
    ("fit llama3-8b --mem 24GB --weights q9", 2, "unknown weight format"),
    ("fit llama3-8b --mem 24GB --kv-only --weights int4", 2, "--kv-only leaves no room"),
    ("fit llama3-8b --mem 24GB --tp 3", 2, "tensor parallel size 3"),
    ("fit llama3-8b --mem 24GB --gpus 4 --tp 3", 2, "not a multiple"),
    ("fit llama3-8b --mem 24GB --gpus 4 --tp 2 --pp 4", 2, "but --gpus is 4"),
    ("fit llama3-8b --mem 24GB --pp 100", 2, "pipeline parallel size 100"),
    ("fit llama3-8b --mem 24GB --gpus 0", 2, "--gpus must be at least 1"),
    ("fit llama3-8b --mem 24GB --device tpu", 2, "--device must be gpu or cpu"),
    ("fit llama3-8b --gpu h100 --device cpu", 2, "give --mem, not --gpu"),
    ("fit llama3-8b --mem 24GB --device cpu --tp 2", 2, "one RAM budget"),
    ("fit llama3-8b --mem 24GB --overhead lots", 2, "--overhead: cannot read size"),
    ("fit llama3-8b --mem 24GB --engine vllm --kv-dtype q8_0", 2, "vllm has no q8_0"),
    ("fit llama3-70b --mem 24GB", 1, "does not fit"),
    ("fit llama3-8b --mem 1MB --kv-only --seq 8192 --batch 1", 1, "what fits: 0 requests"),
    # decode
    ("decode llama3-8b", 2, "give --gpu NAME"),
    ("decode llama3-8b --bandwidth fast", 2, "--bandwidth"),
    ("decode llama3-8b --bandwidth 0TB/s", 2, "more than 0"),
    ("decode llama3-8b --gpu h100 --tp 0", 2, "--tp must be at least 1"),
    ("decode llama3-8b --gpu nosuch", 2, "unknown GPU"),
    ("decode nosuch --gpu h100", 2, "unknown model"),
    ("decode llama3-8b --gpu h100 --weights q9", 2, "unknown weight format"),
    # compare
    ("compare", 2, "Missing argument"),
    ("compare llama3-8b nosuch", 2, "unknown model 'nosuch'"),
    ("compare llama3-8b qwen3-8b --gpu nosuch", 2, "unknown GPU"),
    ("compare llama3-8b qwen3-8b --seq 0", 2, "--seq must be at least 1"),
    # plot
    ("plot", 2, "Missing argument"),
    ("plot llama3-8b --x time", 2, "--x must be seq or batch"),
    ("plot llama3-8b --out {dir}/no/such/c.png", 2, "does not exist"),
    ("plot llama3-8b --out {dir}/c.pdf", 2, ".png or .svg"),
    ("plot llama3-8b --out {dir}", 2, ".png or .svg"),
    ("plot llama3-8b --points 1", 2, "--points must be between 2"),
    ("plot llama3-8b --to 0", 2, "--to must be at least 1"),
    # check, import, models, gpus, the app
    ("check {dir}/missing.yaml", 2, "no such file"),
    ("check {dir}/broken.yaml", 2, "invalid YAML"),
    ("check {dir}/empty", 2, "is a directory"),
    ("check {dir}/heads.yaml", 2, "top-level 'claims:' list"),
    ("check {dir}/claim.yaml", 2, "claim.yaml claim odd: published value 'lots'"),
    ("import nosuch", 2, "unknown model"),
    ("import {dir}/broken.json", 2, "not valid JSON"),
    ("models nosuch", 2, "unknown model"),
    ("gpus extra", 2, "unexpected extra argument"),
    ("nosuchcommand", 2, "No such command"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty").mkdir()
    (d / "broken.yaml").write_text("id: [unclosed\n")
    bomb = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):  # 'billion laughs': 9 aliases a line, each level 9x the last
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join(["*" + chr(96 + i)] * 9) + "]")
    (d / "bomb.yaml").write_text("\n".join(bomb) + "\n")
    (d / "pyobj.yaml").write_text('id: !!python/object/apply:os.system ["echo pwned"]\n')
    (d / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "heads.yaml").write_text(
        "id: toy\nmax_context: 4096\nnum_layers: 2\nnum_query_heads: 8\nnum_kv_heads: 3\n"
        "hidden_size: 512\n"
    )
    (d / "claim.yaml").write_text(
        "claims:\n  - {id: odd, source: s, says: s, model: llama3-8b, quantity: total_bytes,\n"
        "     published: lots, expect: exact}\n"
    )
    (d / "latin1.yaml").write_bytes("id: caf\xe9\n".encode("latin-1"))
    with (d / "huge.yaml").open("wb") as handle:  # sparse: 17 MiB on paper, nothing on disk
        handle.truncate(17 * 2**20)
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "broken.json").write_text('{"num_hidden_layers": ')
    (d / "array.json").write_text(json.dumps([1, 2]))
    with (d / "huge.json").open("wb") as handle:
        handle.truncate(200 * 10**6)  # a 200 MB file is refused before it is read
    (d / "notes.txt").write_text("hello")
    (d / "short.gguf").write_bytes(b"GGUF")
    # valid header, then one key claiming a 2**60-byte string: must not be believed
    header = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little")
    header += (1).to_bytes(8, "little") + (2**60).to_bytes(8, "little")
    (d / "liar.gguf").write_bytes(header + b"\0" * 64)
    return d


@pytest.mark.parametrize(("command", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_invocation(run, files, command, code, message):
    result = run(*shlex.split(command.replace("{dir}", str(files))))
    lines = result.stderr.splitlines()
    assert result.exit_code == code, (result.exit_code, result.stderr, result.stdout[-300:])
    assert len(lines) == 1 and lines[0].startswith("kvcalc: error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_the_table_covers_every_command():
    assert len(BAD) >= 60
    commands = {b[0].split()[0] for b in BAD}
    assert {"size", "dial", "fit", "decode", "compare", "plot", "check", "import", "models"} <= (
        commands
    )
