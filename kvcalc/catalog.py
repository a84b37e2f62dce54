"""Find and load presets (configs/) and user files into validated specs.

The only module besides the CLI that touches the file system.  YAML is read
with yaml.safe_load (no Python object tags), validated by pydantic, and every
failure becomes one SpecError line naming the file and the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from difflib import get_close_matches
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from kvcalc import files
from kvcalc.errors import KvcalcError, SpecError, UnknownNameError, UsageError
from kvcalc.importers.hf_cache import parse_ref
from kvcalc.spec import HardwareSpec, ModelSpec, validate
from kvcalc.yamlfile import read_yaml


def configs_dir() -> Path:
    """configs/ inside the installed package (wheel), else beside it (source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parent / "configs"):
        if (candidate / "models").is_dir():
            return candidate
    raise UsageError(f"kvcalc presets not found next to {here}: the installation is incomplete")


def _key(name: str) -> str:
    return name.strip().lower()


@lru_cache(maxsize=1)
def _shipped_index() -> dict[str, Path]:
    """Every shipped model name (id and aliases, lower case) -> its preset file.

    Reads each preset's YAML but validates none: validation happens only for
    the model asked for.
    """
    index: dict[str, Path] = {}
    for path in sorted((configs_dir() / "models").glob("*.yaml")):
        _add_names(index, path, read_yaml(path))
    return index


def _add_names(index: dict[str, Path], path: Path, data: Any) -> None:
    if isinstance(data, dict):
        for name in [data.get("id", path.stem), *(data.get("aliases") or ())]:
            index.setdefault(_key(str(name)), path)


def _model_index() -> dict[str, Path]:
    """The shipped names, then the user's presets' names that no shipped preset takes.

    The user folder is read on each call (it is small, and `import --save` may have just
    written to it); a user file that does not parse is left out here, and reported when
    it is asked for by id or listed.
    """
    index = dict(_shipped_index())
    for path in user_preset_files():
        try:
            data = read_yaml(path)
        except KvcalcError:
            continue
        _add_names(index, path, data)
    return index


def user_preset_files() -> list[Path]:
    """The user's preset files (user folder/*.yaml with a preset id for a name)."""
    from kvcalc.userdir import models_dir

    folder = models_dir()
    if files.kind(folder) != "dir":
        return []
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".yaml"))
    except OSError as exc:
        raise UsageError(f"{folder}: cannot list user presets ({files.reason(exc)})") from None
    return [folder / name for name in names if _PRESET_ID.match(name[: -len(".yaml")])]


def is_user_preset(path: Path) -> bool:
    return path.parent != configs_dir() / "models"


def preset_ids() -> list[str]:
    """Ids of all shipped model presets in natural order (llama2-7b before llama2-13b)."""
    return sorted(
        (path.stem for path in (configs_dir() / "models").glob("*.yaml")), key=natural_key
    )


def natural_key(name: str) -> list[tuple[int, int | str]]:
    return [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    ]


def _load_preset(path: Path) -> ModelSpec:
    """A preset file, validated; shipped ones once per process (a user's may be rewritten)."""
    if is_user_preset(path):
        return _validated(path)
    return _load_shipped(path)


@cache
def _load_shipped(path: Path) -> ModelSpec:
    return _validated(path)


def _validated(path: Path) -> ModelSpec:
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
    """A model by path (YAML, config.json, model directory, GGUF), preset id or alias,
    or Hugging Face repo id; `warn` receives what an importer had to assume.

    The order, and why:
    1. an argument that names an existing path is that path: a folder ./llama3-8b holding
       a config.json is that folder, not the preset of the same name;
    2. a preset id (the user's preset of that id first: only `import --save --force` makes
       one that shadows a shipped id);
    3. a repo id (`org/name`, `@revision`, `:quant`) in the local Hugging Face cache: the
       checkpoint the user has, read offline;
    4. a preset alias, shipped then the user's (presets carry their repo ids as aliases);
    5. a repo id on the Hugging Face Hub, the only step that uses the network.
    A name is never turned into a file name, so '../hardware' or '/tmp/x/EVIL' cannot
    reach another file by lower-casing or joining.
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
        if is_user_preset(direct) and files.kind(_shipped_file(key)) == "file":
            say(f"{key}: your preset {direct} is used, not the shipped one of that id")
        return _load_preset(direct)
    ref = parse_ref(name)
    if ref is not None:
        from kvcalc.importers.hf_cache import load_cached

        cached = load_cached(ref, say)
        if cached is not None:
            return cached
    index = _model_index()  # reads every preset: only when the name is not a preset id
    if key in index:
        return _load_preset(index[key])
    if ref is not None:
        from kvcalc.importers.hub import load_from_hub

        return load_from_hub(ref, say, suggest(name, index))
    if _looks_like_path(name):
        files.kind(Path(name))  # a name too long to look up says so
        raise UsageError(f"{name}: no such file or directory")
    raise UnknownNameError(
        "model", name, suggest(name, index), "run 'kvcalc models' to list presets"
    )


def _shipped_file(key: str) -> Path:
    return configs_dir() / "models" / f"{key}.yaml"


def _preset_file(key: str) -> Path | None:
    """The user's <key>.yaml, else configs/models/<key>.yaml, when it exists; `key` has
    passed _PRESET_ID."""
    from kvcalc.userdir import models_dir

    for path in (models_dir() / f"{key}.yaml", _shipped_file(key)):
        if files.kind(path) == "file":
            return path
    return None


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


def save_user_preset(spec: ModelSpec, text: str, *, force: bool) -> Path:
    """Write `text` (the spec's YAML) as the user's preset <id>.yaml; the path written.

    An id that a shipped preset has (as id or alias) is refused unless `force`: the user's
    preset of a shipped id is what that id then loads.  The write goes through a temporary
    file and a rename (files.write_new), so a failure leaves the folder as it was, and an
    existing file, or a link in its place, is replaced only with `force`.
    """
    from kvcalc.userdir import models_dir

    if not force and spec.id in _shipped_index():
        owner = _shipped_index()[spec.id].stem
        what = "a shipped preset" if owner == spec.id else f"an alias of the shipped {owner}"
        raise UsageError(
            f"--save: '{spec.id}' is {what}; add --force to shadow it with yours, or give --id NAME"
        )
    folder = models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--save: cannot create {folder} ({files.reason(exc)})") from None
    dest = folder / f"{spec.id}.yaml"
    files.write_new(dest, lambda handle: handle.write(text.encode()), force=force, flag="--save")
    return dest


def user_models(warn: Callable[[str], None] | None = None) -> list[ModelSpec]:
    """The user's presets, validated; one that does not load is said to `warn` and left out
    (a broken file of one's own should not hide the rest of the list)."""
    found = []
    for path in user_preset_files():
        try:
            found.append(_load_preset(path))
        except KvcalcError as exc:
            (warn or (lambda _: None))(f"user preset skipped: {exc}")
    return found


def find_models(
    name: str | None, warn: Callable[[str], None] | None = None
) -> list[tuple[ModelSpec, bool]] | None:
    """Presets to list, each with True when it is the user's: all (no name), or those whose
    id contains `name` or whose family it names ('qwen3', 'gemma'), grouped by family; None
    when `name` is one model (a preset id or alias, a file or a repo id), which the caller
    shows in full.  A user preset with a shipped id is listed instead of the shipped one."""
    if name is not None:
        key = _key(name)
        if files.is_path(name) or _looks_like_path(name) or parse_ref(name) is not None:
            return None  # a file or a repository: shown in full (or its error) by load_model
        if _PRESET_ID.match(key) and _preset_file(key) is not None or key in _model_index():
            return None
    mine = {spec.id: spec for spec in user_models(warn)}
    listed = [
        (mine.pop(spec.id), True) if spec.id in mine else (spec, False) for spec in all_models()
    ]
    listed += [(spec, True) for spec in mine.values()]
    chosen = [
        (spec, user)
        for spec, user in listed
        if name is None or _key(name) in spec.id or _key(name) == spec.family.lower()
    ]
    if not chosen:
        return None  # not a family either: loading it reports the unknown name
    return sorted(chosen, key=lambda item: (item[0].family.lower(), natural_key(item[0].id)))


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
