"""Shared library of the pruning codebase: models, data, engine, FLOPs, checkpoints, pruning."""

from common.errors import UserError

__all__ = ["UserError"]
