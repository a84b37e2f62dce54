"""Every load llama.cpp recorded (tests/data/llamacpp/conformance.json), replayed through
kvcalc's own code: each printed memory line digit for digit, each refusal with its reason.

The recording is `make conformance` (llama-cpp-python 0.3.36 = llama.cpp 0c1e570, CPU);
the replay rebuilds the same tiny GGUFs (byte for byte), reads them with kvcalc's GGUF
importer and sizes them with --engine llamacpp under the recorded flags.  No llama.cpp is
needed.  tests/conformance/llamacpp/replay.py says what is compared.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conformance.llamacpp import replay

DOC = replay.load_data()


@pytest.mark.parametrize("model", sorted(DOC["models"]))
def test_every_recorded_load_of_the_model_is_reproduced(recorded_specs, model):
    loads = [load for load in DOC["loads"] if load["model"] == model]
    spec = recorded_specs[model]
    problems = [f"{load['id']}: {p}" for load in loads for p in replay.check(load, spec)]
    assert not problems, "\n".join(problems)


def test_the_recording_covers_what_issue_14_asks():
    loads, models = DOC["loads"], DOC["models"]
    assert DOC["about"]["llama_cpp_commit"].startswith("0c1e570")
    assert len(loads) >= 400
    assert len({m["arch"] for m in models.values()}) >= 12
    seen: dict[str, set[Any]] = {}
    for load in loads:
        for key, value in load["settings"].items():
            seen.setdefault(key, set()).add(value)
    # every flag varied: -c, -np, -kvu/-no-kvu, --swa-full, -ub, -b, -fa, -ctk, -ctv
    assert all(len(values) > 1 for values in seen.values()), seen
    assert seen["flash_attn"] == {"on", "off", "auto"}
    assert {"f16", "q8_0", "q4_0"} <= seen["type_k"] & seen["type_v"]
    mixed = {(s["type_k"], s["type_v"]) for s in (x["settings"] for x in loads)}
    assert any(k != v for k, v in mixed)
    outcomes = Counter(load["outcome"] for load in loads)
    assert outcomes["refused"] > 0 and outcomes["crashed"] > 0
