"""Every declared method has its folder: the four entry points (and any other it declares), each a
recipe, a README, and its table script."""

import ast

import pytest
from helpers import ROOT

from common.methods import METHODS

STANDARD = ("main.py", "prune.py", "main_finetune.py", "main_scratch.py")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_has_its_entry_points_readme_and_table_script(name):
    method = METHODS[name]
    folder = method.recipes("cifar")
    assert folder == ROOT / "cifar" / name
    assert set(STANDARD) <= set(method.entry_points)
    for entry in method.entry_points:
        assert (folder / entry).is_file(), f"cifar/{name}/{entry}"
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(method.entry_points)
    assert (folder / "README.md").is_file()
    script = ROOT / "scripts" / "cifar" / f"{name}.sh"
    assert script.is_file() and f"python -m common.sweep {name} --tree cifar" in script.read_text()
    assert method.has_table


@pytest.mark.parametrize("name", sorted(m for m in METHODS if "imagenet" in METHODS[m].archs))
def test_a_method_with_an_imagenet_table_has_its_imagenet_folder(name):
    folder = ROOT / "imagenet" / name
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(STANDARD) and (folder / "README.md").is_file()
    script = ROOT / "scripts" / "imagenet" / f"{name}.sh"
    assert script.is_file() and f"python -m common.sweep {name} --tree imagenet" in script.read_text()


RECIPES = sorted((ROOT / "cifar").rglob("*.py")) + sorted((ROOT / "imagenet").rglob("*.py"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_entry_point_is_a_recipe(path):
    """A docstring, the paper's defaults, one call: no logic, at most ~30 lines."""
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), "no docstring"
    assert len(path.read_text().splitlines()) <= 30
    body = [n for n in tree.body if not isinstance(n, (ast.Expr, ast.ImportFrom, ast.Import))]
    assert len(body) == 1 and isinstance(body[0], ast.If), "only the __main__ guard"
    guard = body[0].body
    assert len(guard) == 1 and isinstance(guard[0], ast.Expr) and isinstance(guard[0].value, ast.Call)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recipe_builds_its_command_line(path):
    """``--help`` parses the recipe's defaults into its command line (a default the arm does not take fails here)."""
    from helpers import run_entry
    proc = run_entry(path, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout
