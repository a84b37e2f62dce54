"""The shape the code keeps: every (engine, cache kind) pair has a rule, render only
prints, and no module imports another that imports it back."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import typing
from pathlib import Path

import pytest

import kvcalc
from kvcalc.engines import ENGINES, LogRecord, MissingRule  # ENGINES imports every engine
from kvcalc.layers import CACHE_KINDS, layer_cache
from kvcalc.render_engine import FORMATTERS
from kvcalc.spec import CacheGroupSpec
from tests.conftest import make_spec

PACKAGE = Path(kvcalc.__file__).parent


@pytest.mark.parametrize("kind", CACHE_KINDS)
@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_engine_has_a_rule_for_every_cache_kind(name, kind):
    assert kind in ENGINES[name].RULES, f"engine {name} has no rule for cache kind {kind!r}"


def minimal_group(cls: type) -> object:
    """One layer of a schema group kind, with small valid values for its fields."""
    values = {"count": 1, "window": 64, "chunk": 64, "kv_lora_rank": 16, "qk_rope_head_dim": 4}
    values |= {"d_inner": 16, "d_state": 4, "d_conv": 4, "num_k_heads": 2, "num_v_heads": 2}
    values |= {"head_k_dim": 8, "head_v_dim": 8, "conv_kernel": 4}
    kind = cls.model_fields["kind"].annotation.__args__[0]
    fields = {k: v for k, v in values.items() if k in cls.model_fields}
    return cls.model_validate({"kind": kind, **fields})


@pytest.mark.parametrize("group_cls", typing.get_args(CacheGroupSpec), ids=lambda c: c.__name__)
def test_every_schema_group_maps_to_a_cache_kind_every_engine_knows(group_cls):
    cache = layer_cache(minimal_group(group_cls), make_spec())
    assert cache.kind in CACHE_KINDS
    for engine in ENGINES.values():
        engine.rule(cache)  # raises MissingRule naming the pair


def test_a_missing_rule_is_an_error_naming_the_pair():
    class Odd:
        kind = "odd"

    with pytest.raises(MissingRule, match="engine vllm has no rule for cache kind 'odd'"):
        ENGINES["vllm"].slots(Odd(), 1, 1)


def all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(all_subclasses(sub) for sub in found))


def test_every_engine_report_has_a_formatter():
    for name in modules():  # every record class defined anywhere in kvcalc
        if name != "kvcalc.__main__":  # that one runs the CLI
            importlib.import_module(name)

    def names(classes: set[type]) -> set[str]:
        # by name: dataclass(slots=True) leaves the pre-slots class among the subclasses
        return {f"{c.__module__}.{c.__qualname__}" for c in classes}

    assert names(all_subclasses(LogRecord)) == set(FORMATTERS)


def modules() -> dict[str, ast.Module]:
    out = {}
    for info in pkgutil.walk_packages([str(PACKAGE)], "kvcalc."):
        path = Path(importlib.util.find_spec(info.name).origin)
        out[info.name] = ast.parse(path.read_text())
    return out


def runtime_imports(tree: ast.Module, name: str) -> list[tuple[str, list[str]]]:
    """(module, names) imported anywhere except under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against this module's package
                base = ".".join(name.split(".")[: -node.level] + [node.module])
            found.append((base, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return [(mod, names) for mod, names in found if mod.startswith("kvcalc")]


def is_render(name: str) -> bool:
    return name.split(".")[-1].startswith("render")


def test_only_the_cli_imports_render_code():
    for name, tree in modules().items():
        if name.startswith("kvcalc.cli") or is_render(name):
            continue
        for mod, _ in runtime_imports(tree, name):
            assert not is_render(mod), f"{name} imports {mod}"


def test_render_imports_only_types_from_the_arithmetic():
    arithmetic = ("kvcalc.fitting", "kvcalc.sizing", "kvcalc.search", "kvcalc.deploy")
    arithmetic += ("kvcalc.budget", "kvcalc.decoding", "kvcalc.plotting", "kvcalc.claims")
    for name, tree in modules().items():
        if not is_render(name):
            continue
        for mod, names in runtime_imports(tree, name):
            if mod in arithmetic:
                module = importlib.import_module(mod)
                for item in names:
                    assert isinstance(getattr(module, item), type), f"{name} calls {mod}.{item}"


def test_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for name, tree in modules().items():
        deps = graph.setdefault(name, set())
        for mod, _ in runtime_imports(tree, name):
            deps.add(mod)
            # importing kvcalc.engines.base first runs kvcalc/engines/__init__.py, unless
            # the importer is itself inside that package (its __init__ is already running)
            parts = mod.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent != name and not name.startswith(parent + "."):
                    deps.add(parent)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
