"""The library is layered one way: a module of ``common`` imports only modules of lower layers (or of
its own package). The layers are those of the README's "How it fits together"."""

import ast
from pathlib import Path

from helpers import ROOT

LAYERS = [
    ["errors"],
    ["settings", "code"],
    ["distributed"],
    ["masks", "models", "data"],
    ["flops", "checkpoint"],
    ["engine"],
    ["pruning"],
    ["runs", "zoo"],
    ["methods"],
    ["arms", "report", "steps"],
    ["sequences", "plots", "latency", "cluster"],
    ["sweep"],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def unit(module: str) -> str:
    """``common.pruning.thinet`` -> ``pruning``: the layer unit a module belongs to."""
    return module.split(".")[1]


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("common"):
            names = [node.module] if node.module != "common" else [f"common.{a.name}" for a in node.names]
            yield from ((n, node.lineno) for n in names)
        elif isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names if a.name.startswith("common."))


def test_every_module_of_common_has_a_layer():
    units = {p.stem if p.parent.name == "common" else p.relative_to(ROOT / "common").parts[0]
             for p in (ROOT / "common").rglob("*.py") if p.name != "__init__.py" or p.parent.name != "common"}
    assert units <= set(LAYER), sorted(units - set(LAYER))


def test_imports_go_only_downward():
    upward = []
    for path in sorted((ROOT / "common").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.parts == ("common", "__init__"):
            continue
        me = unit(".".join(rel.parts))
        for target, line in imports(path):
            there = unit(target)
            if there != me and LAYER[there] >= LAYER[me]:
                upward.append(f"{rel}.py:{line} ({me}, layer {LAYER[me]}) imports {target} (layer {LAYER[there]})")
    assert not upward, "\n".join(upward)


def test_recipes_import_only_the_arms_and_sequences():
    for path in sorted((ROOT / "cifar").rglob("*.py")) + sorted((ROOT / "imagenet").rglob("*.py")):
        targets = {t for t, _ in imports(path)}
        assert targets <= {"common.arms", "common.sequences"}, (path, targets)
