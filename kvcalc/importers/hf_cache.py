"""Hugging Face repo ids (`org/name`, `@revision`, `:file-or-quant`) and the local cache.

The cache is read the way huggingface_hub writes it (file_download.py, "Cache layout"),
without importing it, so a cache hit never touches the network and never loads the client:

    $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)
      models--meta-llama--Llama-3.1-8B-Instruct/
        refs/main                  the commit that `main` pointed to when downloaded
        snapshots/<commit>/        the files of that commit (links into blobs/)

A snapshot is read as any model folder is (config.json with the safetensors headers or
the index beside it, or a GGUF), then named after its repo.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kvcalc import files
from kvcalc.errors import SpecError, UsageError
from kvcalc.importers.naming import CACHE_PREFIX, REPO_PART
from kvcalc.spec import ModelSpec, validate

_REF = re.compile(
    rf"^(?P<repo>{REPO_PART}/{REPO_PART})"
    r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9._/-]{0,199}))?"
    r"(?::(?P<select>[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}))?$"
)
"""org/name, then an optional @revision (a branch, tag or commit; refs/pr/1), then an
optional :selector (a quantization such as Q4_K_M, or a GGUF file name in the repo)."""
COMMIT = re.compile(r"^[0-9a-f]{40}$")
_MODEL_FILES = (".yaml", ".yml", ".json", ".gguf")


@dataclass(frozen=True, slots=True)
class RepoRef:
    """A model on the Hugging Face Hub, as the user named it."""

    repo: str
    """'meta-llama/Llama-3.1-8B-Instruct'"""
    revision: str | None = None
    """A branch, tag or commit; None is `main`."""
    select: str | None = None
    """A GGUF quantization ('Q4_K_M') or file name; None reads config.json."""

    def __str__(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        return f"{self.repo}{at}{':' + self.select if self.select else ''}"


def parse_ref(name: str) -> RepoRef | None:
    """A RepoRef when `name` is written as a Hub id, else None.

    'models/llama.yaml' has the shape of an id but names a file (a model file suffix and
    no :selector): a path that does not exist, not a repository to look up online.
    """
    found = _REF.match(name.strip())
    if found is None or ".." in name:
        return None
    if found["select"] is None and found["repo"].lower().endswith(_MODEL_FILES):
        return None
    return RepoRef(found["repo"], found["revision"], found["select"])


def cache_dir() -> Path:
    """The hub cache huggingface_hub would use (constants.py: HF_HUB_CACHE, the legacy
    HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, HF_HOME defaulting to
    $XDG_CACHE_HOME/huggingface, XDG_CACHE_HOME to ~/.cache)."""

    def expand(text: str) -> Path:
        return Path(os.path.expanduser(os.path.expandvars(text)))

    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return expand(os.environ[variable])
    if os.environ.get("HF_HOME"):
        return expand(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return expand(xdg) / "huggingface" / "hub"


def repo_folder(repo: str) -> Path:
    return cache_dir() / (CACHE_PREFIX + repo.replace("/", "--"))


def snapshot(ref: RepoRef) -> tuple[Path, str] | None:
    """(the snapshot folder, its commit) the cache holds for `ref`, or None."""
    folder = repo_folder(ref.repo)
    if files.kind(folder) != "dir":
        return None
    revision = ref.revision or "main"
    if COMMIT.match(revision):
        commit = revision
    else:
        ref_file = folder / "refs" / revision  # the grammar allows no '..' and no leading '/'
        if files.kind(ref_file) != "file":
            return None
        commit = files.read_text(ref_file, 4096, "a cache ref (a commit hash)").strip()
        if not COMMIT.match(commit):
            raise SpecError(f"{ref_file}: expected a 40-character commit hash, got {commit[:60]!r}")
    snap = folder / "snapshots" / commit
    return (snap, commit) if files.kind(snap) == "dir" else None


def load_cached(ref: RepoRef, warn: Callable[[str], None]) -> ModelSpec | None:
    """The model `ref` names, read from the local cache; None when the cache lacks it."""
    found = snapshot(ref)
    if found is None:
        return None
    snap, commit = found
    if ref.select is None and files.kind(snap / "config.json") != "missing":
        from kvcalc.importers.hf import load_hf

        spec, notes = load_hf(snap)
    else:  # a GGUF repository (or only its GGUF files were downloaded)
        from kvcalc.importers.gguf_file import spec_from_gguf
        from kvcalc.importers.gguf_pick import pick

        chosen = pick(local_ggufs(snap), ref.select, str(ref))
        if chosen is None:
            return None  # not this file: perhaps the Hub has it
        spec, notes = spec_from_gguf(snap / chosen)
    for note in notes:
        warn(note)
    where = f"Hugging Face cache {snap.parent.parent} at {commit[:12]}"
    return tagged(spec, ref, where)


def tagged(spec: ModelSpec, ref: RepoRef, where: str) -> ModelSpec:
    """The spec named after its repo, the repo an alias, and where it was read."""
    data = spec.model_dump()
    data.update(
        hf_repo=ref.repo,
        aliases=[str(ref)],
        sources=[f"{ref} from the {where}", *spec.sources],
    )
    return validate(ModelSpec, data, str(ref))


def local_ggufs(snap: Path, limit: int = 4096) -> list[str]:
    """GGUF files in a snapshot, as repo paths ('Q4_K_M/model.gguf'), at most `limit`."""
    found: list[str] = []
    try:
        for root, dirs, names in os.walk(snap):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = Path(root).relative_to(snap)
            found.extend(str(rel / n) if rel.parts else n for n in names if n.endswith(".gguf"))
            if len(found) > limit:
                raise SpecError(f"{snap}: more than {limit:,} GGUF files")
    except OSError as exc:
        raise UsageError(f"{snap}: cannot list ({files.reason(exc)})") from None
    return sorted(found)
