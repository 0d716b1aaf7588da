"""Pre-activation bottleneck ResNet for CIFAR (He et al. 2016, "Identity Mappings"), depth 9n+2.

As the Network Slimming code builds it (Liu et al. 2017): a 3x3 stem conv to 16 channels,
three stages of ``n`` bottlenecks (inner width 16/32/64, output 4x that, stride 2 at the
start of stages 2 and 3), then BN -> ReLU -> global average pool -> Linear. A bottleneck is

    BN(x) -> select -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 1x1 conv
    + shortcut(x)      (identity, or a 1x1 conv without BN where the shape changes)

``select`` is a :class:`~common.models.layers.ChannelSelection`: the block's first BN reads
the residual stream, whose width cannot shrink, so the BN keeps every channel and the
selection hands only the kept ones to the first conv. The final BN has one too.

cfg (9n+1 numbers, spec of the Network Slimming code): per block, in order,
``[channels selected after the first BN, 1x1 conv out, 3x3 conv out]``, then the channels
selected after the final BN. Default: stage 1 ``[16,16,16]`` then ``[64,16,16]``, stage 2
``[64,32,32]`` then ``[128,32,32]``, stage 3 ``[128,64,64]`` then ``[256,64,64]``, final 256.
A block given as ``[0, 0, 0]`` has no residual branch: it is its shortcut alone (a block
removed by Sparse Structure Selection; a downsampling block keeps its 1x1 shortcut conv).

Init as the Network Slimming code: conv ~ N(0, sqrt(2 / (k*k*C_out))), BN gamma 0.5, beta 0,
Linear PyTorch default. ``preresnet110`` (n=12) is the true 110-layer network.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from common.errors import UserError
from common.models.layers import ChannelSelection, init_weights_
from common.models.protocol import ChannelGroup, ResidualBranch
from common.models.registry import check_widths, register_arch

STAGE_PLANES = (16, 32, 64)
EXPANSION = 4
STEM_WIDTH = 16


class Bottleneck(nn.Module):
    """Pre-activation bottleneck; ``widths = (selected, conv1 out, conv2 out)``, or (0, 0, 0)
    for a block without a residual branch."""

    def __init__(self, in_planes: int, planes: int, widths, stride: int):
        super().__init__()
        out_planes = planes * EXPANSION
        self.has_branch = widths[0] > 0
        if self.has_branch:
            self.bn1 = nn.BatchNorm2d(in_planes)
            self.select = ChannelSelection(in_planes, widths[0])
            self.conv1 = nn.Conv2d(widths[0], widths[1], 1, bias=False)
            self.bn2 = nn.BatchNorm2d(widths[1])
            self.conv2 = nn.Conv2d(widths[1], widths[2], 3, stride=stride, padding=1, bias=False)
            self.bn3 = nn.BatchNorm2d(widths[2])
            self.conv3 = nn.Conv2d(widths[2], out_planes, 1, bias=False)
        self.downsample = (nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
                           if stride != 1 or in_planes != out_planes else None)

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x):
        shortcut = self.shortcut(x)
        if not self.has_branch:
            return shortcut
        out = F.relu(self.select(self.bn1(x)))
        out = F.relu(self.bn2(self.conv1(out)))
        out = F.relu(self.bn3(self.conv2(out)))
        return self.conv3(out) + shortcut


class PreResNet(nn.Module):
    def __init__(self, cfg, num_classes=10, in_channels=3):
        super().__init__()
        n = (len(cfg) - 1) // 9
        self.conv1 = nn.Conv2d(in_channels, STEM_WIDTH, 3, padding=1, bias=False)
        in_planes, k = STEM_WIDTH, 0
        for s, planes in enumerate(STAGE_PLANES):
            blocks = []
            for b in range(n):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(Bottleneck(in_planes, planes, cfg[3 * k: 3 * k + 3], stride))
                in_planes, k = planes * EXPANSION, k + 1
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(in_planes)
        self.select = ChannelSelection(in_planes, cfg[-1])
        self.fc = nn.Linear(cfg[-1], num_classes)
        init_weights_(self, bn_gamma=0.5)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.relu(self.select(self.bn(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)

    def block_names(self) -> list[str]:
        n = (len(self.cfg) - 1) // 9
        return [f"layer{s + 1}.{b}" for s in range(3) for b in range(n)]

    def residual_branches(self) -> list[ResidualBranch]:
        """Every block that still has a residual branch: ``y = shortcut(x) + conv3(...)``."""
        return [ResidualBranch(blk, f"{blk}.conv3", (3 * i, 3 * i + 1, 3 * i + 2), f"{blk}.conv3")
                for i, blk in enumerate(self.block_names()) if self.cfg[3 * i] > 0]

    def channel_groups(self) -> list[ChannelGroup]:
        """Per block: the selection after BN1 (read by conv1), conv1's and conv2's outputs;
        then the selection after the final BN (read by the classifier). The stride sits in conv2,
        so a stage's first block selects and reduces at the previous stage's resolution."""
        n = (len(self.cfg) - 1) // 9
        groups = []
        for i, blk in enumerate(self.block_names()):
            if self.cfg[3 * i] == 0:
                continue
            stage = i // n
            before = stage - 1 if stage > 0 and i % n == 0 else stage   # input side of a strided conv2
            groups += [
                ChannelGroup(f"{blk}.select", 3 * i, self.cfg[3 * i], None, f"{blk}.bn1",
                             (f"{blk}.conv1",), stage=before, selection=f"{blk}.select"),
                ChannelGroup(f"{blk}.conv1", 3 * i + 1, self.cfg[3 * i + 1], f"{blk}.conv1", f"{blk}.bn2",
                             (f"{blk}.conv2",), stage=before),
                ChannelGroup(f"{blk}.conv2", 3 * i + 2, self.cfg[3 * i + 2], f"{blk}.conv2", f"{blk}.bn3",
                             (f"{blk}.conv3",), stage=stage),
            ]
        groups.append(ChannelGroup("select", len(self.cfg) - 1, self.cfg[-1], None, "bn", ("fc",),
                                   stage=len(STAGE_PLANES) - 1, selection="select"))
        return groups


def default_cfg_for(n: int) -> list[int]:
    cfg = []
    for planes in STAGE_PLANES:
        for b in range(n):
            in_planes = (STEM_WIDTH if planes == STAGE_PLANES[0] else planes * 2) if b == 0 else planes * EXPANSION
            cfg += [in_planes, planes, planes]
    return cfg + [STAGE_PLANES[-1] * EXPANSION]


def validate_cfg(arch: str, cfg, n: int):
    check_widths(arch, cfg, expected_len=9 * n + 1, min_width=0)
    full = default_cfg_for(n)
    for i in range(3 * n):
        triple = cfg[3 * i: 3 * i + 3]
        if 0 in triple and triple != [0, 0, 0]:
            raise UserError(f"cfg does not fit {arch}: block {i} is {triple}; a block's three widths are "
                            f"all >= 1, or all 0 for a block without a residual branch")
        if triple[0] > full[3 * i]:
            raise UserError(f"cfg does not fit {arch}: block {i} selects {triple[0]} channels of the "
                            f"{full[3 * i]} its first BN has")
    if not 1 <= cfg[-1] <= full[-1]:
        raise UserError(f"cfg does not fit {arch}: the final selection must keep 1..{full[-1]} channels, "
                        f"got {cfg[-1]}")


def _register(depth: int):
    if (depth - 2) % 9:
        raise ValueError(depth)
    n = (depth - 2) // 9
    register_arch(f"preresnet{depth}", "cifar",
                  lambda cfg, num_classes, in_channels: PreResNet(cfg, num_classes, in_channels),
                  lambda _n=n: default_cfg_for(_n),
                  lambda cfg, _d=depth, _n=n: validate_cfg(f"preresnet{_d}", cfg, _n),
                  f"CIFAR pre-activation bottleneck ResNet-{depth} (n={n}) with channel selection, "
                  f"cfg = {9 * n + 1} widths (3 per block + final)")


for _depth in (20, 56, 110, 164):
    _register(_depth)
