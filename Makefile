# Everything runs from a local virtual environment, so a fresh machine needs
# only Python 3 and pip.  `make run` and `make test` do all the set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP  := $(VENV)/.installed

.PHONY: install run test test-hooks fuzz lint bench check-wheel clean conformance

# make run needs the runtime dependencies only; make test adds the dev extras
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUNTIME)
	$(BIN)/kvcalc size llama3-70b --seq 2048 --batch 32

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"
	$(BIN)/kvcalc check  # documented numbers (configs/claims.yaml) still get their recorded verdicts
	$(BIN)/kvcalc check README.md docs  # our own documents' annotated figures and console blocks

# The pre-commit hook run for real by `pre-commit try-repo` (builds a venv from PyPI).
test-hooks: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Long random exploration (make test is derandomized and quick).  A failure prints the
# input to pin as an @example beside its test; .hypothesis/ replays it on the next run.
fuzz: $(STAMP)
	KVCALC_HYPOTHESIS=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check kvcalc tests
	$(BIN)/mypy kvcalc

# Speed, measured (never asserted in tests): medians and ratios against baselines
# measured in the same run.
bench: $(STAMP)
	$(BIN)/python tests/bench.py

# Non-editable install into a scratch venv, run from /tmp: proves the wheel
# ships configs/ (presets) and the console script works outside the repo.
check-wheel:
	rm -rf /tmp/kvcalc-wheel-check
	$(PYTHON) -m venv /tmp/kvcalc-wheel-check
	/tmp/kvcalc-wheel-check/bin/python -m pip install --quiet .
	cd /tmp && /tmp/kvcalc-wheel-check/bin/kvcalc size llama3-70b --seq 2048 --batch 32 --json > /dev/null
	cd /tmp && /tmp/kvcalc-wheel-check/bin/python -m kvcalc models > /dev/null
	cd /tmp && /tmp/kvcalc-wheel-check/bin/kvcalc check > /dev/null
	@echo "check-wheel: non-editable install finds its presets and claims"

# Conformance against a real llama.cpp; NOT part of `make test` (which replays the
# recording without llama.cpp).  Builds llama-cpp-python from source in its own venv
# (15-30 min on 2 cores the first time; pip caches the wheel after that), writes tiny
# GGUFs under build/conformance/, loads each under the settings matrix and rewrites
# tests/data/llamacpp/conformance.json.  Pinned so a re-run reproduces the recording.
CONF_VENV  ?= .venv-conformance
CONF_STAMP := $(CONF_VENV)/.installed
LLAMA_CPP_PYTHON_VERSION ?= 0.3.36

$(CONF_STAMP):
	$(PYTHON) -m venv $(CONF_VENV)
	$(CONF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONF_VENV)/bin/python -m pip install --quiet gguf==0.19.0 numpy
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
	  nice $(CONF_VENV)/bin/python -m pip install --no-binary llama-cpp-python \
	  llama-cpp-python==$(LLAMA_CPP_PYTHON_VERSION)
	touch $(CONF_STAMP)

conformance: $(CONF_STAMP)
	$(CONF_VENV)/bin/python -m tests.conformance.llamacpp.record

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
