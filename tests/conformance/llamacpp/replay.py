"""Check rules.py/expect.py against the recording, line by line, without llama.cpp.

    python3 -m tests.conformance.llamacpp.replay [FILE]

For every recorded context: the refusal message, n_ctx / n_ctx_seq / n_batch / n_ubatch,
and every memory line (memory_lines below) must match digit for digit, in order.
Prints the mismatches and a tally; exits 1 if any.  Crashed loads (GGML aborts) are
counted, not predicted.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .expect import expect
from .rules import layers

DEFAULT = Path(__file__).resolve().parents[2] / "data" / "llamacpp" / "conformance.json"
PARAM = re.compile(r"^llama_context: (n_ctx|n_ctx_seq|n_batch|n_ubatch) += (\d+)$")


def memory_lines(lines: list[str]) -> list[str]:
    """The recorded lines expect.py predicts: every cache's buffer and size lines, the SWA
    cache's own lines, the V-padding and n_ctx-rounding warnings, FA auto-enabling."""
    def wanted(line: str) -> bool:
        if line.startswith(("llama_kv_cache_iswa:", "llama_memory_recurrent:")):
            return True
        if line.startswith("llama_kv_cache:"):
            return any(k in line for k in ("buffer size", "size =", "padding V cache"))
        return line.startswith(("llama_context: n_ctx is not divisible",
                                "llama_init_from_model: enabling flash_attn"))
    return [line for line in lines if wanted(line)]


def recorded_params(lines: list[str]) -> dict[str, int]:
    found = {}
    for line in lines:
        m = PARAM.match(line)
        if m:
            found[m.group(1)] = int(m.group(2))
    return found


def check(load: dict[str, Any], model: dict[str, Any]) -> list[str]:
    """Differences between the rules and one recorded context (empty when they agree)."""
    lay = layers(model["arch"], model["metadata"])
    want = expect(model["arch"], lay, load["settings"])
    if load["outcome"] == "refused":
        said = load["reason"] or ""
        if want.refusal is None or not said.endswith(want.refusal):
            return [f"refusal: recorded {said!r}, rules say {want.refusal!r}"]
        return []
    if want.refusal:
        return [f"recorded {load['outcome']}, rules refuse: {want.refusal!r}"]
    problems = []
    got = recorded_params(load["lines"])
    for name in ("n_ctx", "n_ctx_seq", "n_batch", "n_ubatch"):
        if got.get(name) != getattr(want, name):
            problems.append(f"{name}: recorded {got.get(name)}, rules {getattr(want, name)}")
    rec = memory_lines(load["lines"])
    if rec != want.lines:
        problems.append("lines differ:\n    recorded " + "\n             ".join(rec)
                        + "\n    rules    " + "\n             ".join(want.lines))
    return problems


def main(argv: list[str]) -> int:
    doc = json.loads(Path(argv[0] if argv else DEFAULT).read_text())
    tally: Counter[str] = Counter()
    for load in doc["loads"]:
        if load["outcome"] == "crashed":
            tally["crashed (not predicted)"] += 1
            continue
        problems = check(load, doc["models"][load["model"]])
        tally["mismatch" if problems else "match"] += 1
        for problem in problems:
            print(f"{load['id']}: {problem}")
    print(dict(tally))
    return 1 if tally["mismatch"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
