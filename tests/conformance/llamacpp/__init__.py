"""Conformance harness: load tiny GGUFs in a real llama.cpp and record its cache lines.

Runs only under `make conformance` (its own venv with llama-cpp-python); `make test`
never imports it.  See README.md in this folder.
"""
