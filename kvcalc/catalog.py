"""Find and load presets (configs/) and user files into validated specs.

The only module besides the CLI that touches the file system.  YAML is read
with yaml.safe_load (no Python object tags), validated by pydantic, and every
failure becomes one SpecError line naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from difflib import get_close_matches
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from kvcalc.errors import SpecError, UnknownNameError, UsageError
from kvcalc.limits import MAX_NESTING, MAX_YAML_ALIASES, MAX_YAML_BYTES
from kvcalc.spec import HardwareSpec, ModelSpec, validate


def configs_dir() -> Path:
    """configs/ inside the installed package (wheel), else beside it (source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if (candidate / "models").is_dir():
            return candidate
    raise UsageError(f"kvcalc presets not found next to {here}: the installation is incomplete")


# An alias is '*name' where a YAML value may start: after a space, '[', '{', ',' or ':'.
_ALIAS = re.compile(r"(?:^|[\s\[{,:])\*[^\s,\[\]{}]+", re.M)
# libyaml when the wheel has it (about 15x faster than pure Python on large files)
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def nesting_depth(data: Any) -> int:
    """Deepest container nesting, visiting each distinct object once (aliases share them)."""
    deepest, seen = 0, set()
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list) or id(item) in seen:
            continue
        seen.add(id(item))
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_yaml_text(text: str, origin: str) -> Any:
    """Plain YAML data (no Python tags), with aliases and nesting bounded (limits.py).

    Aliases share objects in the loaded data, but anything that walks the result
    per occurrence (validation, repeat counting) would expand a 'billion laughs'
    file; presets use no aliases at all.
    """
    aliases = len(_ALIAS.findall(text))
    if aliases > MAX_YAML_ALIASES:
        raise SpecError(
            f"{origin}: invalid YAML: {aliases} alias references (at most {MAX_YAML_ALIASES})"
        )
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except RecursionError:
        raise SpecError(
            f"{origin}: invalid YAML: nested deeper than {MAX_NESTING} levels"
        ) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "python/" in problem:
            problem = "tags that construct Python objects are refused (plain YAML data only)"
        raise SpecError(f"{origin}:{line} invalid YAML: {problem}") from None
    if nesting_depth(data) > MAX_NESTING:
        raise SpecError(f"{origin}: invalid YAML: nested deeper than {MAX_NESTING} levels")
    return data


def read_yaml(path: Path) -> Any:
    """Parse a YAML file as plain data; anything else is a SpecError naming the file."""
    try:
        if path.is_file() and path.stat().st_size > MAX_YAML_BYTES:
            raise SpecError(
                f"{path}: {path.stat().st_size:,} bytes is too large for a YAML description "
                f"(limit {MAX_YAML_BYTES:,}; describe long layer lists with count and repeat)"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    return parse_yaml_text(text, str(path))


def _key(name: str) -> str:
    return name.strip().lower()


@lru_cache(maxsize=1)
def _model_index() -> dict[str, Path]:
    """Every accepted model name (id and aliases, lower case) -> its preset file.

    Reads each preset's YAML but validates none: validation happens only for
    the model asked for.
    """
    index: dict[str, Path] = {}
    for path in sorted((configs_dir() / "models").glob("*.yaml")):
        data = read_yaml(path)
        if isinstance(data, dict):
            for name in [data.get("id", path.stem), *(data.get("aliases") or ())]:
                index.setdefault(_key(str(name)), path)
    return index


def preset_ids() -> list[str]:
    """Ids of all shipped model presets in natural order (llama2-7b before llama2-13b)."""
    return sorted(
        (path.stem for path in (configs_dir() / "models").glob("*.yaml")), key=natural_key
    )


def natural_key(name: str) -> list[tuple[int, int | str]]:
    return [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    ]


@cache
def _load_preset(path: Path) -> ModelSpec:
    spec: ModelSpec = validate(ModelSpec, read_yaml(path), str(path))
    return spec


def _exists(path: Path, kind: str = "any") -> bool:
    """Path.exists / is_file that answer False for a name the OS cannot even look up
    (ENAMETOOLONG), instead of raising."""
    try:
        return path.is_file() if kind == "file" else path.exists()
    except OSError:
        return False


def _looks_like_file(name: str) -> bool:
    # 'meta-llama/Llama-4' is an unknown repo id, not a path, unless it exists on disk
    return name.lower().endswith((".yaml", ".yml", ".json", ".gguf")) or _exists(Path(name))


def load_model(name: str, warn: Callable[[str], None] | None = None) -> ModelSpec:
    """A model by preset id, alias (e.g. the Hugging Face repo), YAML file, config.json or
    model directory; `warn` receives what an importer had to assume."""
    direct = configs_dir() / "models" / f"{_key(name)}.yaml"
    if _exists(direct, "file"):
        return _load_preset(direct)
    if _looks_like_file(name) and _exists(Path(name)):
        return _load_file(Path(name), warn)
    index = _model_index()  # reads every preset: only when the name is not a preset id
    if _key(name) in index:
        return _load_preset(index[_key(name)])
    if _looks_like_file(name):
        return _load_file(Path(name), warn)
    raise UnknownNameError(
        "model", name, suggest(name, index), "run 'kvcalc models' to list presets"
    )


def _load_file(path: Path, warn: Callable[[str], None] | None) -> ModelSpec:
    """A model file by its kind: GGUF, config.json or directory, else YAML."""
    reader: Callable[[Path], tuple[ModelSpec, list[str]]] | None = None
    if path.suffix.lower() == ".gguf":
        from kvcalc.importers.gguf_file import spec_from_gguf as reader
    elif path.is_dir() or path.suffix.lower() == ".json":
        from kvcalc.importers.hf import load_hf as reader
    if reader is not None:
        imported, notes = reader(path)
        for note in notes:
            (warn or (lambda _: None))(note)
        return imported
    if path.suffix.lower() not in (".yaml", ".yml") and path.is_file():
        raise UsageError(
            f"{path}: unsupported model file type; kvcalc reads model YAML, config.json, "
            "a model directory or GGUF"
        )
    spec: ModelSpec = validate(ModelSpec, read_yaml(path), str(path))
    return spec


def suggest(name: str, index: dict[str, Path], limit: int = 3) -> list[str]:
    """Closest preset ids: fuzzy matches on every name, then ids containing the text."""
    key = _key(name)
    found: list[str] = []
    for match in get_close_matches(key, list(index), n=limit * 3, cutoff=0.6):
        if index[match].stem not in found:
            found.append(index[match].stem)
    for alias, path in index.items():
        if key and key in alias and path.stem not in found:
            found.append(path.stem)
    return found[:limit]


def all_models() -> list[ModelSpec]:
    """Every shipped preset, validated, in id order."""
    return [_load_preset(configs_dir() / "models" / f"{pid}.yaml") for pid in preset_ids()]


def find_models(name: str | None) -> list[ModelSpec] | None:
    """Presets to list: all (no name), or those whose id contains `name` or whose family it
    names ('qwen3', 'gemma'), grouped by family; None when `name` is one model (a preset
    id or alias, or a file), which the caller shows in full."""
    if name is not None:
        key = _key(name)
        if _exists(configs_dir() / "models" / f"{key}.yaml", "file") or _looks_like_file(name):
            return None
        if key in _model_index():
            return None
    chosen = [
        spec
        for spec in all_models()
        if name is None or _key(name) in spec.id or _key(name) == spec.family.lower()
    ]
    if not chosen:
        return None  # not a family either: loading it reports the unknown name
    return sorted(chosen, key=lambda spec: (spec.family.lower(), natural_key(spec.id)))


@lru_cache(maxsize=1)
def all_hardware() -> tuple[HardwareSpec, ...]:
    path = configs_dir() / "hardware.yaml"
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("hardware"), list):
        raise SpecError(f"{path}: expected a top-level 'hardware:' list")
    return tuple(
        validate(HardwareSpec, entry, f"{path}: hardware[{i}]")
        for i, entry in enumerate(data["hardware"])
    )


def load_hardware(name: str) -> HardwareSpec:
    """A hardware preset by id or alias ('h100', 'rtx4090', 'm2-ultra', ...)."""
    index: dict[str, HardwareSpec] = {}
    for hw in all_hardware():
        for alias in (hw.id, *hw.aliases):
            index.setdefault(_normal_hw(alias), hw)
    key = _normal_hw(name)
    if key in index:
        return index[key]
    close = get_close_matches(key, list(index), n=6, cutoff=0.6)
    ids = list(dict.fromkeys(index[c].id for c in close))[:3]
    raise UnknownNameError("GPU", name, ids, "run 'kvcalc gpus' to list hardware presets")


def _normal_hw(name: str) -> str:
    # 'RTX 4090', 'rtx-4090' and 'rtx4090' are the same card
    return "".join(ch for ch in name.lower() if ch.isalnum())


def load_claims(path: Path) -> list[Any]:
    """configs/claims.yaml (or another file of the same shape) as validated Claims."""
    from kvcalc.spec import Claim

    data = read_yaml(path)
    items = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise SpecError(f"{path}: expected a top-level 'claims:' list of claims")
    claims = [validate(Claim, item, f"{path} claim {i + 1}") for i, item in enumerate(items)]
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise SpecError(f"{path}: claim id {claim.id!r} appears twice")
        seen.add(claim.id)
    return claims
