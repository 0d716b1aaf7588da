"""Which code made a result: every ``result.json`` records the code its run depended on, so that a result
made by other code is never taken for this code's.

:func:`fingerprint` hashes, per file, the project code of a run: the library the process imported
(``common/``: engine, data, models, arms, ...), the recipe that ran (``__main__``) and -- for a run that uses
its method -- the method's declaration and every project file it imports (its algorithm in
``common/pruning/``, a helper next to a method declared in a folder of its own). The other methods'
declarations and algorithms are not part of it, nor, for a plain baseline, its own method's: editing
``common/pruning/thinet.py`` changes ThiNet's prunings and what follows them, not the baselines they start
from. A file's hash is that of its syntax tree without docstrings, so editing a docstring, a comment or the
layout is not a change of code; editing a line of an algorithm is. :func:`changed` lists the recorded files
whose code differs now: the table runner (``common.sweep``) refuses to take such a result as done unless
told what to do.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TRACKED: set = {ROOT / "common"}


def track(folder) -> None:
    """Count the files imported from ``folder`` (a method's own folder) as project code."""
    _TRACKED.add(Path(folder).resolve())


@lru_cache(maxsize=None)
def _hash(path: str, mtime: float) -> str:
    tree = ast.parse(Path(path).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def file_hash(path) -> str | None:
    """The code hash of ``path`` (None when it no longer exists or does not parse)."""
    path = Path(path)
    try:
        return _hash(str(path), path.stat().st_mtime)
    except (OSError, SyntaxError, ValueError):
        return None


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def _path(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else ROOT / path


def _module_file(name: str, near: Path) -> Path | None:
    """The project file of module ``name`` (``common.x.y``, or a module next to ``near``), or None."""
    base = ROOT if name.split(".")[0] == "common" else near.parent
    stem = base.joinpath(*name.split("."))
    for path in (stem.with_suffix(".py"), stem / "__init__.py"):
        if path.is_file():
            return path.resolve()
    return None


def _imports(path: Path) -> set:
    """The project files ``path`` imports (at any level; ``from a import b`` counts module ``a.b`` if it is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        for name in names:
            file = _module_file(name, path)
            if file is not None:
                found.add(file)
    return found


REGISTRY = ROOT / "common" / "methods" / "__init__.py"      # imports every method: not followed


def method_files(declaration) -> set:
    """The declaration file of a method and every project file it imports, transitively."""
    todo, seen = [Path(declaration).resolve()], set()
    while todo:
        path = todo.pop()
        if path in seen or path == REGISTRY:
            continue
        seen.add(path)
        todo += _imports(path)
    return seen


def _is_method_code(path: Path) -> bool:
    """A file of a method: a declaration or an algorithm of ``common/``, or a file of a method's own folder."""
    parts = path.relative_to(ROOT).parts if ROOT in path.parents else ()
    if parts[:2] in (("common", "methods"), ("common", "pruning")):
        return parts[-1] != "base.py"
    return any(folder != ROOT / "common" and (folder == path.parent or folder in path.parents) for folder in _TRACKED)


def fingerprint(method_declaration=None) -> dict[str, str]:
    """``{file: code hash}`` of a run (see the module docstring): the imported library and recipe, and the files of
    the method declared in ``method_declaration`` (a file; None: a run that does not use its method)."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    files = {Path(main).resolve()} if main and main.endswith(".py") else set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and file.endswith(".py"):
            path = Path(file).resolve()
            if any(folder == path.parent or folder in path.parents for folder in _TRACKED) and \
                    not _is_method_code(path):
                files.add(path)
    if method_declaration is not None:
        files |= method_files(method_declaration)
    return {_name(p): h for p in sorted(files) if (h := file_hash(p)) is not None}


def changed(recorded: dict | None) -> list[str]:
    """The files of ``recorded`` (a :func:`fingerprint`) whose code differs now, or ``["(not recorded)"]``."""
    if not recorded:
        return ["(not recorded)"]
    return [name for name, h in recorded.items() if file_hash(_path(name)) != h]
