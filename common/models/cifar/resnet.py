"""ResNet for CIFAR (He et al. 2016, Sec. 4.2): depth 6n+2, basic blocks, stages 16/32/64.

cfg: one inner width per block (the output width of the block's first conv), ``3n``
entries in block order. The second conv maps back to the stage width, so residual
additions never change shape; pruning a block's inner width is what L1-norm filter
pruning (Li et al. 2017) and the channel-selection methods do on ResNets. A width of 0
means the block has no residual branch and is its shortcut alone (a block removed by
Sparse Structure Selection; its input is a ReLU output, so the final ReLU is a no-op).

Shortcut on a downsampling block: 2x2 average pool, then zero channels appended
("option A", parameter-free), as in the L1-norm code -- but computed on ``x`` itself, so
gradients flow through it (the original detached it).

``sfp_resnet{20,32,56,110}`` are the same networks with the shortcut of the Soft Filter Pruning
code (He et al. 2018; D-X-Y's CifarResNet): a 1x1 average pool of stride 2 -- the top-left pixel of
every 2x2 window -- then the zero channels.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from common.models.layers import init_weights_
from common.models.protocol import ChannelGroup, ResidualBranch
from common.models.registry import check_widths, register_arch

STAGE_WIDTHS = (16, 32, 64)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, mid_planes: int, planes: int, stride: int, subsample: bool = False):
        super().__init__()
        self.subsample = subsample
        self.has_branch = mid_planes > 0
        if self.has_branch:
            self.conv1 = nn.Conv2d(in_planes, mid_planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid_planes)
            self.conv2 = nn.Conv2d(mid_planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad_channels = planes - in_planes

    def shortcut(self, x):
        if self.stride != 1:   # the window's mean, or (SFP's code) its top-left pixel
            x = x[:, :, ::self.stride, ::self.stride] if self.subsample else F.avg_pool2d(x, self.stride)
        if self.pad_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.pad_channels))
        return x

    def forward(self, x):
        if not self.has_branch:
            return self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, cfg, num_classes=10, in_channels=3, subsample_shortcut=False):
        super().__init__()
        n = len(cfg) // 3
        self.conv1 = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        in_planes, k = STAGE_WIDTHS[0], 0
        for s, planes in enumerate(STAGE_WIDTHS):
            blocks = []
            for b in range(n):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(BasicBlock(in_planes, cfg[k], planes, stride, subsample_shortcut))
                in_planes, k = planes, k + 1
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(STAGE_WIDTHS[-1], num_classes)
        init_weights_(self)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)

    def block_names(self) -> list[str]:
        n = len(self.cfg) // 3
        return [f"layer{s + 1}.{b}" for s in range(3) for b in range(n)]

    def residual_branches(self) -> list[ResidualBranch]:
        """Every block that still has a residual branch: ``y = relu(bn2(conv2(...)) + shortcut(x))``."""
        return [ResidualBranch(blk, f"{blk}.bn2", (i,), f"{blk}.conv2")
                for i, blk in enumerate(self.block_names()) if self.cfg[i] > 0]

    def channel_groups(self) -> list[ChannelGroup]:
        """One group per block: the inner channels between conv1 and conv2 (at the block's stage)."""
        n = len(self.cfg) // 3
        return [ChannelGroup(name=f"{blk}.conv1", cfg_index=i, size=self.cfg[i], producer=f"{blk}.conv1",
                             bn=f"{blk}.bn1", consumers=(f"{blk}.conv2",), stage=i // n)
                for i, blk in enumerate(self.block_names()) if self.cfg[i] > 0]


def _register(depth: int, prefix: str = "", subsample: bool = False):
    if (depth - 2) % 6:
        raise ValueError(depth)
    n = (depth - 2) // 6
    default = [w for w in STAGE_WIDTHS for _ in range(n)]
    name = f"{prefix}resnet{depth}"

    def validate(cfg, _name=name, _n=n):
        check_widths(_name, cfg, expected_len=3 * _n, min_width=0)

    shortcut = "1x1 average pool of stride 2 (SFP's code)" if subsample else "2x2 average pool"
    register_arch(name, "cifar",
                  lambda cfg, num_classes, in_channels: CifarResNet(cfg, num_classes, in_channels, subsample),
                  lambda _c=default: list(_c), validate,
                  f"CIFAR ResNet-{depth} (basic blocks, option-A shortcut: {shortcut}), cfg = {3 * n} inner widths")


for _depth in (20, 32, 44, 56, 110):
    _register(_depth)
for _depth in (20, 32, 56, 110):
    _register(_depth, "sfp_", subsample=True)
