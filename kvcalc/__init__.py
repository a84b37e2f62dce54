"""kvcalc: exact KV-cache sizing for LLM serving.

Library use (docs/api.md)::

    import kvcalc

    kvcalc.size("llama3-70b", seq=2048, batch=32).total_bytes  # 21474836480
    kvcalc.fit("llama3-8b", mem="24GB", util=1, overhead=0, weights="bf16").max_context  # 8192

The functions are loaded on first use, so `import kvcalc` (and the CLI's start-up) pays
for none of them until they are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "check_log",
    "compare",
    "decode",
    "dial",
    "fit",
    "fit_all",
    "load_model",
    "plot",
    "preset_yaml",
    "setup",
    "size",
    "what_would_fit",
]
_API = {name for name in __all__ if name not in ("__version__", "setup")}

if TYPE_CHECKING:
    from kvcalc.api import (
        check_log,
        compare,
        decode,
        dial,
        fit,
        fit_all,
        load_model,
        plot,
        preset_yaml,
        size,
        what_would_fit,
    )
    from kvcalc.options import setup


def __getattr__(name: str) -> Any:
    if name in _API:
        from kvcalc import api

        return getattr(api, name)
    if name == "setup":
        from kvcalc.options import setup

        return setup
    raise AttributeError(f"module 'kvcalc' has no attribute {name!r}")
