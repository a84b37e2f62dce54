"""Replay the recording through kvcalc: every recorded load, every line, without llama.cpp.

    python -m tests.conformance.llamacpp.replay [FILE]      (from the repository root)

For every recorded context the same tiny GGUF is rebuilt (models.py; its size must equal
the recorded one), read by kvcalc's GGUF importer, and sized by `kvcalc.api.size(...)` under
the recorded settings, given as kvcalc's llama.cpp flags.  What kvcalc prints must be what
llama.cpp printed: each memory line (memory_lines below) digit for digit and in order,
each context line kvcalc prints (n_seq_max, n_ctx, n_ctx_seq, n_batch, n_ubatch,
flash_attn, kv_unified, n_rs_seq) verbatim, and every refusal or abort with llama.cpp's
reason.  tests/test_llamacpp_replay.py runs this under `make test`; run as a script it
prints the mismatches and a tally.  The rules themselves live in kvcalc
(kvcalc/engines/llamacpp*.py, kvcalc/archs.py), not here.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parents[2] / "data" / "llamacpp" / "conformance.json"


def memory_lines(lines: list[str]) -> list[str]:
    """The recorded lines about memory: every cache's buffer and size lines, the SWA
    cache's own lines, the V-padding and n_ctx-rounding warnings, FA auto-enabling."""

    def wanted(line: str) -> bool:
        if line.startswith(("llama_kv_cache_iswa:", "llama_memory_recurrent:")):
            return True
        if line.startswith("llama_kv_cache:"):
            return any(k in line for k in ("buffer size", "size =", "padding V cache"))
        return line.startswith(
            ("llama_context: n_ctx is not divisible", "llama_init_from_model: enabling flash_attn")
        )

    return [line for line in lines if wanted(line)]


def load_data(path: Path = DEFAULT) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def build_models(doc: dict[str, Any], folder: Path) -> dict[str, Path]:
    """The recorded tiny GGUFs, rebuilt byte for byte with the harness's own builders."""
    from .models import by_name

    cases = by_name()
    paths = {}
    for name, recorded in doc["models"].items():
        path = folder / f"{name}.gguf"
        size = cases[name].build(path).write()
        if size != recorded["gguf_bytes"]:
            raise AssertionError(f"{name}: rebuilt {size} B, recorded {recorded['gguf_bytes']} B")
        paths[name] = path
    return paths


def kvcalc_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The recorded llama_context_params as kvcalc's llama.cpp flags."""
    return {
        "engine_name": "llamacpp",
        "ctx_size": settings["n_ctx"],
        "parallel": settings["n_seq_max"],
        "kv_unified": settings["kv_unified"],
        "swa_full": settings["swa_full"],
        "ubatch_size": settings["n_ubatch"],
        "batch_size": settings["n_batch"],
        "flash_attn": settings["flash_attn"],
        "cache_type_k": settings["type_k"],
        "cache_type_v": settings["type_v"],
    }


def kvcalc_says(spec: Any, settings: dict[str, Any]) -> tuple[list[str], str | None]:
    """(the lines kvcalc prints, or its refusal) for one recorded context."""
    from kvcalc import api
    from kvcalc.errors import UsageError
    from kvcalc.options import setup
    from kvcalc.render_engine import log_lines

    try:
        s = setup(**kvcalc_options(settings))
        # n_rs_seq has no llama-server flag (it follows the draft settings): the API field
        s = replace(s, engine=replace(s.engine, rs_seq=settings["n_rs_seq"]))
        answer = api.size(spec, setup=s)
    except UsageError as exc:
        return [], str(exc)
    return log_lines(answer.report), None


def check(load: dict[str, Any], spec: Any) -> list[str]:
    """Differences between kvcalc and one recorded context (empty when they agree)."""
    printed, refusal = kvcalc_says(spec, load["settings"])
    said = load["reason"] or ""
    if load["outcome"] != "loaded":
        # llama_init_from_model's message, or the GGML_ASSERT text of an abort
        message = said.split("llama_init_from_model: ", 1)[-1]
        if load["outcome"] == "crashed":
            message = said[said.index("GGML_ASSERT") :]
        if refusal is None or message not in refusal:
            return [f"refusal: recorded {said!r}, kvcalc {refusal!r}"]
        return []
    if refusal is not None:
        return [f"recorded loaded, kvcalc refuses: {refusal!r}"]
    problems = []
    for line in printed:  # n_seq_max, n_ctx, ..., each as llama_context printed it
        if line.startswith("llama_context: ") and line not in load["lines"]:
            problems.append(f"context line not recorded: {line!r}")
    recorded = memory_lines(load["lines"])
    ours = memory_lines(printed)
    if ours != recorded:
        problems.append(
            "lines differ:\n    recorded "
            + "\n             ".join(recorded)
            + "\n    kvcalc   "
            + "\n             ".join(ours)
        )
    return problems


def replay(doc: dict[str, Any], folder: Path) -> tuple[Counter[str], list[str]]:
    """Tally and problems of every recorded load against kvcalc."""
    from kvcalc.api import load_model

    paths = build_models(doc, folder)
    specs = {name: load_model(path) for name, path in paths.items()}
    tally: Counter[str] = Counter()
    problems = []
    for load in doc["loads"]:
        found = check(load, specs[load["model"]])
        tally["mismatch" if found else load["outcome"]] += 1
        problems += [f"{load['id']}: {p}" for p in found]
    return tally, problems


def main(argv: list[str]) -> int:
    doc = load_data(Path(argv[0]) if argv else DEFAULT)
    with tempfile.TemporaryDirectory() as folder:
        tally, problems = replay(doc, Path(folder))
    for problem in problems:
        print(problem)
    print(dict(tally))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
