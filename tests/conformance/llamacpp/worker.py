"""Load GGUFs in llama.cpp (through llama-cpp-python's C bindings) and keep what it prints.

Runs inside the conformance venv only:  python -m tests.conformance.llamacpp.worker JOBS OUT
JOBS is a JSON list of {"id", "model", "gguf", "settings"} grouped by model; OUT a folder.

Each model is loaded once (its lines go to OUT/<model>.model.log); each job then creates
and frees one context, its lines going to OUT/<id>.log.  Why fd 2 and not a Python list:
a GGML_ASSERT inside llama.cpp aborts the process, and the abort message is written
straight to fd 2; redirecting fd 2 per job keeps that last message in the job's own log,
where the driver finds it after the crash.  "DONE <id>" on stdout tells the driver how far
this process got.

The C API is used rather than llama_cpp.Llama because Llama fixes some fields itself
(n_batch = min(n_ctx, 512), flash_attn only on/off, no n_seq_max or kv_unified).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Any

import llama_cpp

from .matrix import FLASH_ATTN, GGML_TYPES

# ggml_log_level (vendored ggml/include/ggml.h): DEBUG 1, INFO 2, WARN 3, ERROR 4, and CONT 5
# continues the previous line.  (llama-cpp-python's _logger.py comment lists an older enum
# where 4 was DEBUG; filtering on that would drop exactly the error lines we need.)
DEBUG, CONT = 1, 5
_last_level = [0]


@llama_cpp.llama_log_callback
def _log_to_fd2(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    # Debug lines (one per layer and tensor) would triple the logs and say nothing
    # about sizes that the info lines do not; everything else is kept verbatim.
    if level != CONT:
        _last_level[0] = level
    if _last_level[0] != DEBUG:
        os.write(2, text)


def redirect_fd2(path: Path) -> int:
    """Point fd 2 at `path` (truncated); returns the fd to close afterwards."""
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    return fd


def context_params(settings: dict[str, Any]) -> Any:
    """llama_context_default_params() with every field the matrix varies set explicitly."""
    cp = llama_cpp.llama_context_default_params()
    cp.n_ctx = settings["n_ctx"]
    cp.n_batch = settings["n_batch"]
    cp.n_ubatch = settings["n_ubatch"]
    cp.n_seq_max = settings["n_seq_max"]
    cp.n_rs_seq = settings["n_rs_seq"]
    cp.kv_unified = settings["kv_unified"]
    cp.swa_full = settings["swa_full"]
    cp.flash_attn_type = FLASH_ATTN[settings["flash_attn"]]
    cp.type_k = GGML_TYPES[settings["type_k"]]
    cp.type_v = GGML_TYPES[settings["type_v"]]
    # one thread: the machine is shared, and thread count changes no size
    cp.n_threads = 1
    cp.n_threads_batch = 1
    return cp


def run(jobs: list[dict[str, Any]], out: Path) -> None:
    llama_cpp.llama_log_set(_log_to_fd2, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    saved = os.dup(2)
    model = None
    model_name = None
    try:
        for job in jobs:
            if job["model"] != model_name:
                if model is not None:
                    llama_cpp.llama_model_free(model)
                model_name = job["model"]
                fd = redirect_fd2(out / f"{model_name}.model.log")
                mp = llama_cpp.llama_model_default_params()
                mp.n_gpu_layers = 0  # CPU only: this machine has no GPU backend anyway
                model = llama_cpp.llama_model_load_from_file(job["gguf"].encode(), mp)
                print("MODEL_OK" if model else "MODEL_FAILED", file=sys.stderr, flush=True)
                os.dup2(saved, 2)
                os.close(fd)
            fd = redirect_fd2(out / f"{job['id'].replace('/', '__')}.log")
            try:
                if not model:
                    print("MODEL_FAILED", file=sys.stderr, flush=True)
                    continue
                ctx = llama_cpp.llama_init_from_model(model, context_params(job["settings"]))
                if ctx:
                    print("CONTEXT_OK", file=sys.stderr, flush=True)
                    llama_cpp.llama_free(ctx)
                else:
                    print("CONTEXT_FAILED", file=sys.stderr, flush=True)
            finally:
                os.dup2(saved, 2)
                os.close(fd)
                print("DONE", job["id"], flush=True)
    finally:
        if model is not None:
            llama_cpp.llama_model_free(model)


def about() -> dict[str, str]:
    """What produced the recording: binding version and the vendored llama.cpp build.

    ggml_commit() is filled by the vendored CMake build from the llama.cpp submodule's git
    (cmake/build-info.cmake); a "-dirty" suffix only means the sdist's tree is not a
    clean checkout of that commit.
    """
    lib = llama_cpp.llama_cpp._lib
    lib.ggml_commit.restype = ctypes.c_char_p
    lib.ggml_version.restype = ctypes.c_char_p
    import gguf

    return {
        "llama_cpp_python": llama_cpp.__version__,
        "ggml_commit": lib.ggml_commit().decode(),
        "ggml_version": lib.ggml_version().decode(),
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "gguf_py": getattr(gguf, "__version__", "") or _dist_version("gguf"),
        "python": sys.version.split()[0],
    }


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    if sys.argv[1:] == ["--about"]:
        print(json.dumps(about()))
    else:
        run(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
