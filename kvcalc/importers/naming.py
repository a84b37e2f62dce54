"""What to call a model read from a file: its repository, its own name, never a folder
like `hf` or `snapshots`.

Checkpoints live in folders named for how they were fetched, not for the model:
`llama3-70b/hf/config.json`, `~/.cache/huggingface/hub/models--meta-llama--Llama-3.1-8B/
snapshots/<commit>/config.json`.  So the name comes from, in order: the Hugging Face cache
layout around the file (the repo id is in the folder name), the config's `_name_or_path`
(written by save_pretrained: a repo id, or the path it was loaded from, itself read the
same way), then the nearest folder whose name says something.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from kvcalc.importers.values import Fields
from kvcalc.limits import MAX_NAME_CHARS

GENERIC = frozenset(
    {
        "", ".", "..", "hf", "huggingface", "hub", "snapshots", "snapshot", "blobs", "main",
        "model", "models", "checkpoint", "checkpoints", "weights", "original", "transformers",
        "safetensors", "config", "configs", "latest", "final", "tmp", "cache", ".cache",
    }
)  # fmt: skip
"""Folder names that name a layout, not a model."""
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
"""One half of a Hugging Face repo id (huggingface_hub validate_repo_id: letters, digits,
'-', '_', '.', at most 96 characters, not starting or ending with '-' or '.')."""
REPO_ID = re.compile(rf"^({REPO_PART})/({REPO_PART})$")
CACHE_PREFIX = "models--"


def repo_from_cache_folder(folder: str) -> str | None:
    """'models--meta-llama--Llama-3.1-8B' -> 'meta-llama/Llama-3.1-8B' (the cache writes
    the repo id with '/' as '--', which a repo name may not contain)."""
    if not folder.startswith(CACHE_PREFIX):
        return None
    parts = folder[len(CACHE_PREFIX) :].split("--")
    if len(parts) != 2:
        return None
    repo = "/".join(parts)
    return repo if REPO_ID.match(repo) and ".." not in repo else None


def repo_in_cache_path(path: PurePath) -> str | None:
    """The repo id when `path` lies in a Hugging Face cache snapshot, else None."""
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i + 1] == "snapshots" and (repo := repo_from_cache_folder(parts[i])):
            return repo
    return None


def telling_folder(path: PurePath) -> str | None:
    """The nearest folder (from the innermost out) whose name is not a layout word or a
    commit hash: /data/llama3-70b/hf -> 'llama3-70b'."""
    for part in reversed(path.parts):
        if part.lower() not in GENERIC and not _COMMIT.match(part) and part != path.anchor:
            return part
    return None


def _from_name_or_path(given: str) -> str | None:
    text = given.strip().rstrip("/")
    if not text:
        return None
    if REPO_ID.match(text):
        return text
    path = PurePath(text)
    return repo_in_cache_path(path) or telling_folder(path)


def model_name(config: dict[str, Any], config_path: PurePath) -> str:
    """The display name of the config.json at `config_path` (absolute, links kept: a cache
    snapshot's files are links into blobs/), as the module docstring says."""
    given = Fields(config, str(config_path)).text("_name_or_path")
    name = (
        repo_in_cache_path(config_path)
        or (_from_name_or_path(given) if given else None)
        or telling_folder(config_path.parent)
        or "imported"
    )
    return name[:MAX_NAME_CHARS]
