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

from kvcalc import files
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


# libyaml when the wheel has it (about 15x faster than pure Python on large files)
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE_LOADER):  # type: ignore[misc]
    """The safe loader, refusing a key written twice in one mapping.

    YAML keeps the last of two equal keys silently: `num_layers: 4` then `num_layers: 8`
    would size 8 layers with no word.  (Keys brought in by a `<<` merge may be overridden:
    that is what a merge is for.)
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {first + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def walk_shape(data: Any) -> tuple[int, int]:
    """(deepest container nesting, references to an already-seen container).

    Each distinct container is visited once, so the walk is linear in the document even
    for a 'billion laughs' file; a second reference to a container is exactly what a YAML
    alias to a list or mapping produces (a word like *factor inside a note is text, and
    is not counted: the parser, not a regex, decides what an alias is).
    """
    deepest = shared = 0
    seen: set[int] = set()
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if id(item) in seen:
            shared += 1
            continue
        seen.add(id(item))
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        children = list(item.keys()) + list(item.values()) if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest, shared


def nesting_depth(data: Any) -> int:
    """Deepest container nesting, visiting each distinct object once (aliases share them)."""
    return walk_shape(data)[0]


def parse_yaml_text(text: str, origin: str) -> Any:
    """Plain YAML data (no Python tags, no repeated keys), with aliases and nesting bounded.

    Aliases share objects in the loaded data, but anything that walks the result
    per occurrence (validation, repeat counting) would expand a 'billion laughs'
    file; presets use no aliases at all.
    """
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
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
    except ValueError as exc:
        # the constructor's int() refuses more than 4,300 digits (CPython's str->int bound)
        raise SpecError(f"{origin}: invalid YAML: {str(exc).split(';')[0]}") from None
    depth, aliases = walk_shape(data)
    if depth > MAX_NESTING:
        raise SpecError(f"{origin}: invalid YAML: nested deeper than {MAX_NESTING} levels")
    if aliases > MAX_YAML_ALIASES:
        raise SpecError(
            f"{origin}: invalid YAML: {aliases} alias references (at most {MAX_YAML_ALIASES})"
        )
    return data


def read_yaml(path: Path) -> Any:
    """Parse a YAML file as plain data; anything else is a SpecError naming the file."""
    text = files.read_text(
        path,
        MAX_YAML_BYTES,
        "a YAML description",
        "describe long layer lists with count and repeat",
    )
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


_MODEL_SUFFIXES = (".yaml", ".yml", ".json", ".gguf")
_PRESET_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$", re.ASCII)
"""What a preset file name can be: never a path separator, never '..' first."""


def _looks_like_path(name: str) -> bool:
    # './x', '../x', '/x', '~/x' or a model file's suffix: a file meant, not a preset.
    # 'meta-llama/Llama-4' is a (missing) repo id, not a path, unless it exists on disk.
    text = name.strip()
    return text.startswith(("/", "./", "../", "~")) or text.lower().endswith(_MODEL_SUFFIXES)


def load_model(name: str, warn: Callable[[str], None] | None = None) -> ModelSpec:
    """A model by path (YAML, config.json, model directory, GGUF), preset id or alias;
    `warn` receives what an importer had to assume.

    An argument that names an existing path is that path: a folder ./llama3-8b holding a
    config.json is that folder, not the preset of the same name.  Otherwise the name is
    looked up among the presets' own ids and aliases (case-insensitively); it is never
    turned into a file name, so '../hardware' or '/tmp/x/EVIL' cannot reach another
    file by lower-casing or joining.
    """
    if not name.strip():
        raise UsageError("empty model name: give a preset id (see 'kvcalc models') or a path")
    say = warn or (lambda _: None)
    key = _key(name)
    if files.is_path(name):
        if _PRESET_ID.match(key) and _preset_file(key) is not None:
            say(f"'{name}' is read as the local path of that name, not the preset {key}")
        return _load_file(Path(name), warn)
    if _PRESET_ID.match(key) and (direct := _preset_file(key)) is not None:
        return _load_preset(direct)
    index = _model_index()  # reads every preset: only when the name is not a preset id
    if key in index:
        return _load_preset(index[key])
    if _looks_like_path(name):
        files.kind(Path(name))  # a name too long to look up says so
        raise UsageError(f"{name}: no such file or directory")
    raise UnknownNameError(
        "model", name, suggest(name, index), "run 'kvcalc models' to list presets"
    )


def _preset_file(key: str) -> Path | None:
    """configs/models/<key>.yaml when it exists; `key` has passed _PRESET_ID."""
    path = configs_dir() / "models" / f"{key}.yaml"
    return path if files.kind(path) == "file" else None


def _load_file(path: Path, warn: Callable[[str], None] | None) -> ModelSpec:
    """A model file by its kind: GGUF, config.json or directory, else YAML."""
    reader: Callable[[Path], tuple[ModelSpec, list[str]]] | None = None
    found = files.kind(path)
    if path.suffix.lower() == ".gguf":
        from kvcalc.importers.gguf_file import spec_from_gguf as reader
    elif found == "dir" or path.suffix.lower() == ".json":
        from kvcalc.importers.hf import load_hf as reader
    if reader is not None:
        imported, notes = reader(path)
        for note in notes:
            (warn or (lambda _: None))(note)
        return imported
    if path.suffix.lower() not in (".yaml", ".yml") and found == "file":
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
        if files.is_path(name) or _looks_like_path(name):
            return None  # a file: shown in full (or its error) by load_model
        if _PRESET_ID.match(key) and _preset_file(key) is not None or key in _model_index():
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
    # 'RTX 4090', 'rtx-4090' and 'rtx_4090' are the same card; only spaces, '-' and '_' are
    # dropped, so 'h.100' or '../h100' is not quietly read as h100
    return re.sub(r"[\s_-]+", "", name.lower())


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
