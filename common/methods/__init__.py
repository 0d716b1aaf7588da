"""The methods, each declared once as a class registered with ``@register_method`` (``base.py``): one module
per method, named as its folder (``l1-norm`` -> ``l1_norm.py``), its algorithm in ``common/pruning/`` under
the same name. A method declared in any other file registers the same way and runs through every arm and
the table runner (docs/adding-a-method.md)."""

from common.methods import (imp, l1_norm, lottery_ticket, metapruning, regression,  # noqa: F401  (registers them)
                            slimming, soft_filter, sss, taylor, thinet, weight_level)
from common.methods.base import METHODS, Method, Pruned, Training, get_method, load_method_file, register_method

__all__ = ["METHODS", "Method", "Pruned", "Training", "get_method", "load_method_file", "register_method"]
