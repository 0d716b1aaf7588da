"""MetaPruning's search spaces (Liu et al., ICCV 2019, Sec. 3.1; spec B.1): one gene per searchable width,
each one of 31 scales of a base width; the encodings of a network and how to draw them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from common.errors import UserError
from common.models import default_cfg


SCALES = tuple((10 + 3 * k) / 100 for k in range(31))       # 0.10, 0.13, ..., 1.00
FULL = len(SCALES) - 1

# ----------------------------------------------------------------------------- search spaces


@dataclass(frozen=True)
class SearchSpace:
    """Which cfg entries each gene sets, from which base (full) widths.

    arch:       the plain network's registered arch; ``base`` its cfg at scale 1.0
    genes:      per gene, the cfg indices it sets (other entries stay at ``base``)
    hidden:     the generators' hidden width; ``hidden_for`` per-conv exceptions
    init:       the gene values random candidates are drawn from (ResNet-50: 12..23, scales 0.46-0.79)
    """

    arch: str
    base: tuple
    genes: tuple
    hidden: int = 32
    hidden_for: tuple = ()
    init: tuple = tuple(range(len(SCALES)))

    def cfg(self, encoding) -> list[int]:
        cfg = list(self.base)
        for gene, indices in zip(encoding, self.genes):
            for i in indices:
                cfg[i] = max(1, int(self.base[i] * SCALES[gene]))
        return cfg

    def check(self, encoding) -> tuple:
        encoding = tuple(int(g) for g in encoding)
        if len(encoding) != len(self.genes) or not all(0 <= g <= FULL for g in encoding):
            raise UserError(f"an encoding of {self.arch} has {len(self.genes)} genes in 0..{FULL}, "
                            f"got {list(encoding)}")
        return encoding

    def hidden_of(self, conv: str) -> int:
        return dict(self.hidden_for).get(conv, self.hidden)


def _scaled(widths, width: float, arch: str = "") -> tuple:
    """The base widths times ``width``; one that would have no channel is one line."""
    narrowest = min(widths)
    if int(narrowest * width) < 1:
        raise UserError(f"--width {width:g} leaves the narrowest layer of {arch or 'the network'} ({narrowest} "
                        f"channels at full width) with none; use --width {1 / narrowest:g} or more")
    return tuple(max(1, int(w * width)) for w in widths)


def search_space(arch: str, width: float = 1.0) -> SearchSpace:
    """The spec's search space of ``arch`` (B.1), its base widths times ``width`` (small-scale runs)."""
    if arch == "mobilenet_v1":       # 13 genes: the stem and pointwise convs 1..12; the last one (1024) fixed
        return SearchSpace(arch, _scaled(default_cfg(arch), width, arch), tuple((i,) for i in range(13)))
    if arch in ("mobilenet_v2", "mobilenet_v2_cifar"):
        from common.models.imagenet.mobilenet import v2_default_cfg
        # ImageNet: the authors' 1.4x widths (stage outputs 44, 22, 33, 44, 88, 132, 224, 448, hidden 6 x input);
        # CIFAR: the 1.0x widths. 8 stage genes (stem + 7 stages) and 16 hidden genes; the last conv fixed.
        base = (v2_default_cfg((44, 22, 33, 44, 88, 132, 224, 448)) if arch == "mobilenet_v2"
                else default_cfg(arch))
        return SearchSpace(arch, _scaled(base, width, arch), tuple((i,) for i in range(24)), hidden=64,
                           hidden_for=(("features.0.0", 32), ("features.18.0", 32)))
    if arch == "resnet50_stages":    # stem + stages 1-3 outputs, 16 block genes (both inner widths); stage 4 fixed
        genes = tuple((i,) for i in range(4)) + tuple((5 + 2 * b, 6 + 2 * b) for b in range(16))
        return SearchSpace(arch, _scaled(default_cfg(arch), width, arch), genes, init=tuple(range(12, 24)))
    raise UserError(f"MetaPruning has no search space for {arch}; choose one of: {', '.join(SEARCH_ARCHS)}")


SEARCH_ARCHS = ("mobilenet_v1", "mobilenet_v2", "resnet50_stages", "mobilenet_v2_cifar")


def sample_encoding(space: SearchSpace, rng: torch.Generator, choices=None) -> tuple:
    """Every gene uniformly from ``choices`` (default: all 31 scales), jointly (spec B.3)."""
    choices = torch.tensor(choices or range(len(SCALES)))
    return tuple(int(choices[i]) for i in torch.randint(len(choices), (len(space.genes),), generator=rng))


def uniform_encoding(space: SearchSpace, fits) -> tuple:
    """The widest uniform encoding (every gene the same scale) that ``fits`` -- the paper's uniform baseline."""
    for g in range(FULL, -1, -1):
        if fits((g,) * len(space.genes)):
            return (g,) * len(space.genes)
    raise UserError("no uniform width meets the constraint")
