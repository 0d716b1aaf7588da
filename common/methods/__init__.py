"""The methods, each declared once (``base.Method``): one module per method, one line in the registry.

Adding a method: write its algorithm in ``common/pruning/<name>.py``, its declaration in
``common/methods/<name>.py`` (a ``METHOD``), add it to :data:`METHODS` below, and give it the recipe
files ``cifar/<name>/*.py``, a README and ``scripts/cifar/<name>.sh`` (docs/adding-a-method.md).
"""

from common.errors import UserError
from common.methods import (imp, l1_norm, lottery_ticket, metapruning, regression, slimming, soft_filter, sss,
                            thinet, weight_level)
from common.methods.base import Method, Pruned, Pruning, Retraining, Table, Training

METHODS = {m.name: m for m in (
    l1_norm.METHOD,
    thinet.METHOD,
    regression.METHOD,
    slimming.METHOD,
    sss.METHOD,
    soft_filter.METHOD,
    weight_level.METHOD,
    lottery_ticket.METHOD,
    imp.METHOD,
    metapruning.METHOD,
)}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "Pruned", "Pruning", "Retraining", "Table", "Training", "get_method"]
