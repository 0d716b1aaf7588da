"""Model registry: every model is ``(arch, cfg)``, and every arch has a *kind*.

``build_model(arch, num_classes, in_channels, cfg)`` builds any registered network from an
explicit width configuration; ``cfg=None`` gives the arch's default (unpruned) widths.
A pruned network is the same arch with a smaller cfg, so a checkpoint needs only
``arch``, ``num_classes``, ``in_channels`` and ``cfg`` to rebuild its model.

The kind (``"cifar"``: 32x32 inputs; ``"imagenet"``: 224x224) says which datasets an arch is
for: arch names are unique across kinds, and :func:`check_kind` refuses an arch with a dataset
of another kind. What pruning may ask of a model is written down in ``protocol.py``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Optional

import torch.nn as nn

from common.errors import UserError
from common.models.protocol import ChannelGroup, ResidualBranch  # noqa: F401  (re-exported)
from common.settings import Settings, flag, parse_cfg


@dataclass(frozen=True)
class ArchSpec:
    name: str
    kind: str
    builder: Callable[..., nn.Module]
    default_cfg: Callable[[], list]
    validate_cfg: Callable[[list], None]
    description: str


_ARCHS: dict[str, ArchSpec] = {}


def register_arch(name, kind, builder, default_cfg, validate_cfg, description=""):
    """Add an arch of ``kind`` ("cifar", "imagenet"); a name may exist once across all kinds."""
    if name in _ARCHS:
        raise ValueError(f"arch {name!r} registered twice (as {_ARCHS[name].kind} and {kind})")
    _ARCHS[name] = ArchSpec(name, kind, builder, default_cfg, validate_cfg, description)


# Names users know, per kind: on an ImageNet dataset ``vgg16`` is torchvision's VGG-16 -- registered here as
# ``vgg16_nobn``, since on CIFAR ``vgg16`` is the CIFAR model of Li et al. A checkpoint keeps the registered name,
# so every old name still builds the same model.
ALIASES = {("imagenet", "vgg16"): "vgg16_nobn"}


def resolve_arch(name: str, kind: str | None) -> str:
    """The registered arch that ``name`` means on datasets of ``kind`` (``vgg16`` on ImageNet: ``vgg16_nobn``)."""
    return ALIASES.get((kind, name), name) if kind else name


def display_name(arch: str) -> str:
    """The name users know for a registered arch (``vgg16_nobn`` -> ``vgg16``)."""
    spec = _ARCHS.get(arch)
    return next((n for (k, n), a in ALIASES.items() if a == arch and spec and k == spec.kind), arch)


def list_archs(kind: str | None = None) -> list[str]:
    """The registered archs (of ``kind``); for one kind by the names users know (``vgg16`` for ImageNet's)."""
    names = [n for n, s in _ARCHS.items() if kind is None or s.kind == kind]
    return sorted(display_name(n) if kind else n for n in names)


def check_kind(arch: str, kind: str, dataset: str) -> None:
    """One :class:`UserError` line unless ``arch`` is a model for datasets of ``kind``."""
    spec = arch_spec(resolve_arch(arch, kind))
    if spec.kind != kind:
        article = "an" if kind[0] in "aeiou" else "a"
        raise UserError(f"{arch} is built for {spec.kind} datasets and {dataset} is {article} {kind} dataset; choose "
                        f"one of: {', '.join(list_archs(kind)) or 'none registered yet'}")


def arch_spec(arch: str) -> ArchSpec:
    if arch not in _ARCHS:
        kinds = ", ".join(f"{k}: {' '.join(list_archs(k))}" for k in sorted({s.kind for s in _ARCHS.values()}))
        raise UserError(f"unknown arch {arch!r}; choose one of ({kinds})")
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


_INIT_FUNCTIONS = ("normal_", "uniform_", "constant_", "ones_", "zeros_", "kaiming_normal_", "kaiming_uniform_",
                   "xavier_normal_", "xavier_uniform_", "trunc_normal_")


def build_shapes(arch: str, num_classes: int, in_channels: int = 3, cfg: list | None = None) -> nn.Module:
    """``build_model`` on the meta device, without initialising: the network's modules and shapes, no
    numbers (a forward of a meta tensor gives every layer's output shape). Fast -- the ``torch.nn.init``
    functions are skipped while it is built (not thread-safe: other threads building a model meanwhile
    would skip theirs too) -- for code that builds many networks to measure them (MetaPruning's
    PruningNet and search)."""
    import torch

    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    try:
        for name in _INIT_FUNCTIONS:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        with torch.device("meta"):
            return build_model(arch, num_classes, in_channels, cfg)
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


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


@dataclass(frozen=True)
class ModelSettings(Settings):
    """The model flags of a training run: ``(arch, cfg)``."""

    arch: str = flag("vgg16_mlp", "model (default %(default)s)")
    cfg: Optional[str] = flag(None, "width config as a JSON list (default: the arch's full widths)")

    def build(self, dataset) -> nn.Module:
        """``(arch, cfg)`` for ``dataset`` (a :class:`~common.data.Dataset`): the arch, by the name users know on its
        kind (``vgg16`` on ImageNet is torchvision's), must be of its kind."""
        check_kind(self.arch, dataset.kind, dataset.name)
        return build_model(resolve_arch(self.arch, dataset.kind), dataset.num_classes, dataset.in_channels,
                           parse_cfg(self.cfg))
