"""L1-norm filter pruning (Li, Kadav, Durdanovic, Samet, Graf, ICLR 2017).

Score of filter j of a conv layer: ``s_j = sum |F_j|`` (Sec. 3.1, the sum of absolute
kernel weights). Per layer, keep the ``k`` highest-scoring filters; remove the others, their
BN channels and the matching input channels of the next layer (``surgery.prune_channels``).

Which layers and how many (the paper's Table 1 / 2 configurations, as the original code):
  * VGG-16-A:  conv1 and conv8..conv13 keep half their filters.
  * ResNet-56-A/B, ResNet-110-A/B (CIFAR), ResNet-34-A/B (ImageNet): only the first conv of each
    residual block is pruned, at a per-stage ratio p, keeping ``int(C * (1 - p))`` filters; some
    layers (by conv id, 1 = stem, block b's first conv = 2b) are skipped as sensitive (Sec. 4.2,
    Fig. 2).
A uniform ``ratio`` over every prunable layer is also offered for other archs.

The method is the criterion ``criteria.l1_norm`` with the per-layer selector ``selection.keep_top`` over one
of these plans.
"""

from __future__ import annotations

import torch.nn as nn

from common.errors import UserError
from common.pruning.criteria import l1_norm
from common.pruning.selection import keep_top, kept_count, per_layer_ratio
from common.pruning.surgery import prune_channels

# variant -> (per-stage prune ratio, skipped conv ids); ResNet ids count convs from the stem = 1
RESNET_VARIANTS = {
    ("resnet56", "A"): ((0.1, 0.1, 0.1), {16, 20, 38, 54}),
    ("resnet56", "B"): ((0.6, 0.3, 0.1), {16, 18, 20, 34, 38, 54}),
    ("resnet110", "A"): ((0.5, 0.0, 0.0), {36}),
    ("resnet110", "B"): ((0.5, 0.4, 0.3), {36, 38, 74}),
    # ImageNet ResNet-34 (1x1 convs not numbered; the original's prune.py): the first block of stages
    # 1-3, the last of stages 2-3 and all of stage 4 are kept whole
    ("resnet34", "A"): ((0.3, 0.3, 0.3, 0.0), {2, 8, 14, 16, 26, 28, 30, 32}),
    ("resnet34", "B"): ((0.5, 0.6, 0.4, 0.0), {2, 8, 14, 16, 26, 28, 30, 32}),
}
RESNET_VARIANTS.update({("resnet34_narrow", v): RESNET_VARIANTS[("resnet34", v)] for v in "AB"})  # quarter widths
# VGG-16-A: ratio 0.5 on these convs (1-based), i.e. 64->32 and 512->256 at full width
VGG16_A_LAYERS = {1, 8, 9, 10, 11, 12, 13}


def variants_for(arch: str) -> list[str]:
    if arch in ("vgg16", "vgg16_mlp"):
        return ["A"]
    return sorted(v for a, v in RESNET_VARIANTS if a == arch)


def plan_keep_counts(model: nn.Module, variant: str | None = None, ratio: float | None = None) -> dict:
    """Number of filters to keep per channel group for a paper variant or a uniform ratio."""
    groups = model.channel_groups()
    if ratio is not None:
        if not 0.0 <= ratio < 1.0:
            raise UserError(f"prune ratio must lie in [0, 1), got {ratio}")
        return per_layer_ratio(model, ratio, groups)
    arch = model.arch
    if arch in ("vgg16", "vgg16_mlp") and variant == "A":
        return {g.name: kept_count(g.size, 0.5) for k, g in enumerate(groups, 1) if k in VGG16_A_LAYERS}
    if (arch, variant) in RESNET_VARIANTS:
        ratios, skip = RESNET_VARIANTS[(arch, variant)]
        counts = {}
        for b, g in enumerate(groups, 1):  # block b's first conv has conv id 2b
            if 2 * b in skip:
                continue
            counts[g.name] = int(g.size * (1 - ratios[g.stage]))
        return counts
    known = variants_for(arch)
    raise UserError(f"no L1-norm variant {variant!r} for {arch}; "
                    + (f"choose {', '.join(known)} or give --ratio" if known else "give --ratio"))


def l1_prune(model: nn.Module, keep_counts: dict):
    """Prune each named group to its count by filter L1 norm.

    Returns ``(pruned_model, kept)`` where ``kept`` maps group name -> kept filter indices.
    """
    kept = keep_top(l1_norm(model), keep_counts)
    return prune_channels(model, kept), kept
