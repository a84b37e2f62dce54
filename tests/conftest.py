"""Shared helpers: a CLI runner with a wide terminal, a small spec factory, and the
hypothesis profiles.

`make test` runs the "ci" profile: derandomized (the same examples on every run and
every machine, so a red build is reproducible), no example database, and a modest
number of examples; failures found by exploration are pinned as `@example`s beside
their test.  `make fuzz` runs the "fuzz" profile: random, many examples, with the
database, to find new failures.  Choose with KVCALC_HYPOTHESIS=ci|fuzz.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from kvcalc.cli import app
from kvcalc.dtypes import kv_format
from kvcalc.spec import ModelSpec

FP16 = kv_format("fp16")

# Tests that run the CLI in-process take a pytest fixture; hypothesis would warn that the
# fixture is not reset between examples, which is what we want (a runner, a tmp folder).
_QUIET = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, suppress_health_check=_QUIET
)
settings.register_profile(
    "fuzz", derandomize=False, deadline=None, max_examples=3000, suppress_health_check=_QUIET
)
PROFILE = os.environ.get("KVCALC_HYPOTHESIS", "ci")
settings.load_profile(PROFILE)
FUZZ_EXAMPLES = 50 if PROFILE == "ci" else settings.default.max_examples
"""Examples per fuzz test: each runs the whole CLI in-process (~5 ms), so `make test`
keeps 50 fixed ones and `make fuzz` explores thousands."""


class Run:
    def __init__(self) -> None:
        # COLUMNS=160 so rich tables are not cut in the middle of a number
        self.runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})

    def __call__(self, *args: str) -> Any:
        return self.runner.invoke(app, list(args))

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def run() -> Run:
    return Run()


@pytest.fixture(scope="session")
def recorded_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSpec]:
    """The llama.cpp recording's tiny GGUFs, rebuilt byte for byte and read by kvcalc."""
    from kvcalc.api import load_model
    from tests.conformance.llamacpp import replay

    folder = tmp_path_factory.mktemp("ggufs")
    built = replay.build_models(replay.load_data(), folder)
    return {name: load_model(path) for name, path in built.items()}


def make_spec(**overrides: Any) -> ModelSpec:
    """A small valid model; override any field."""
    fields: dict[str, Any] = dict(
        id="toy",
        max_context=4096,
        num_layers=4,
        num_query_heads=8,
        num_kv_heads=2,
        hidden_size=512,
        params=1_000_000,
    )
    fields.update(overrides)
    return ModelSpec.model_validate(fields)
