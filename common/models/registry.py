"""Model registry: every model is ``(arch, cfg)``.

``build_model(arch, num_classes, in_channels, cfg)`` builds any registered network from an
explicit width configuration; ``cfg=None`` gives the arch's default (unpruned) widths.
A pruned network is the same arch with a smaller cfg, so a checkpoint needs only
``arch``, ``num_classes``, ``in_channels`` and ``cfg`` to rebuild its model.

Models also describe their *channel groups* (:class:`ChannelGroup`): a set of channels
that can be removed together, with the tensors that must be sliced when they are.
``common.pruning.surgery`` uses this to build smaller models without per-arch code.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from common.errors import UserError


@dataclass(frozen=True)
class ChannelGroup:
    """Channels ``0..size-1`` produced by ``producer`` and read by ``consumers``.

    name:       unique id of the group (the producing conv's module name)
    cfg_index:  position in ``model.cfg`` that holds this group's width
    size:       current number of channels
    producer:   module name of the conv (or linear) whose output channels these are
    bn:         module name of the BatchNorm right after the producer, or None
    consumers:  module names of the layers that read these channels as input
    selection:  for a selection group, the :class:`~common.models.layers.ChannelSelection`
                that picks these channels out of a wider BN output (pre-activation ResNet,
                DenseNet). Then ``producer`` is None, ``bn`` is that wider BN (its scales
                belong to channels ``selection.index``; it is never sliced) and removing
                channels shortens the selection's index and the consumers' inputs.
    """

    name: str
    cfg_index: int
    size: int
    producer: str | None
    bn: str | None
    consumers: tuple[str, ...] = field(default_factory=tuple)
    selection: str | None = None


@dataclass(frozen=True)
class ArchSpec:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    default_cfg: Callable[[], list]
    validate_cfg: Callable[[list], None]
    description: str


_ARCHS: dict[str, ArchSpec] = {}


def register_arch(name, family, builder, default_cfg, validate_cfg, description=""):
    if name in _ARCHS:
        raise ValueError(f"arch {name!r} registered twice")
    _ARCHS[name] = ArchSpec(name, family, builder, default_cfg, validate_cfg, description)


def list_archs(family: str | None = None) -> list[str]:
    return sorted(n for n, s in _ARCHS.items() if family is None or s.family == family)


def arch_spec(arch: str) -> ArchSpec:
    if arch not in _ARCHS:
        raise UserError(f"unknown arch {arch!r}; choose one of: {', '.join(list_archs())}")
    return _ARCHS[arch]


def default_cfg(arch: str) -> list:
    return copy.deepcopy(arch_spec(arch).default_cfg())


def build_model(arch: str, num_classes: int, in_channels: int = 3, cfg: list | None = None) -> nn.Module:
    """Build ``arch`` with widths ``cfg`` (default widths when None).

    Raises :class:`UserError` for an unknown arch or a cfg that does not fit it.
    """
    spec = arch_spec(arch)
    cfg = default_cfg(arch) if cfg is None else copy.deepcopy(list(cfg) if isinstance(cfg, tuple) else cfg)
    spec.validate_cfg(cfg)
    model = spec.builder(cfg=cfg, num_classes=num_classes, in_channels=in_channels)
    model.arch = arch
    model.cfg = cfg
    model.num_classes = num_classes
    model.in_channels = in_channels
    return model


def check_widths(arch: str, cfg, expected_len: int | None = None, pattern: list | None = None,
                 min_width: int = 1):
    """Validate a flat list of int widths >= ``min_width`` (or a pattern with 'M' markers)."""
    if not isinstance(cfg, list):
        raise UserError(f"cfg for {arch} must be a JSON list, got {type(cfg).__name__}")
    if pattern is not None:
        if len(cfg) != len(pattern) or any((p == "M") != (c == "M") for p, c in zip(pattern, cfg)):
            raise UserError(
                f"cfg does not fit {arch}: expected {len(pattern)} entries with 'M' at the "
                f"pooling positions of {pattern}, got {cfg}")
    elif expected_len is not None and len(cfg) != expected_len:
        raise UserError(f"cfg does not fit {arch}: expected {expected_len} widths, got {len(cfg)}")
    for c in cfg:
        if c == "M":
            continue
        if isinstance(c, bool) or not isinstance(c, int) or c < min_width:
            raise UserError(f"cfg does not fit {arch}: every width must be an integer >= {min_width}, got {c!r}")
