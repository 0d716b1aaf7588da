"""ResNet-18/34/50 for ImageNet (He et al. 2016) in torchvision's layout, built from a width cfg.

cfg: the inner widths of every block, in order -- one per basic block (its conv1's output;
ResNet-18: 8 entries, ResNet-34: 16), two per bottleneck (its conv1's and conv2's outputs;
ResNet-50: 32). A block's output keeps the stage width (64/128/256/512, x4 in a bottleneck),
so residual additions never change shape; the inner widths are what L1-norm, ThiNet and the
regression method prune. Widths 0 mean the block has no residual branch (``y = relu(shortcut(x))``,
a block removed by Sparse Structure Selection; a downsampling block keeps its 1x1 conv + BN).

Stem 7x7/2 conv + BN + ReLU + 3x3/2 max-pool, stages of stride 1, 2, 2, 2 (a bottleneck strides
in its 3x3 conv, as torchvision's v1.5), global average pool, Linear. State-dict keys are
torchvision's: the full-width model loads ``torchvision.models.resnet50()``'s state dict strictly and
computes the same logits. Init as torchvision: conv He normal (fan-out), BN 1 and 0.

``resnet34_narrow`` and ``resnet50_narrow`` are ResNet-34 and -50 at a quarter of the widths (stages
16/32/64/128, stem 16): the ImageNet code path at CIFAR cost, for quick runs (the ImageNet quick
start) and tests.

``resnet50_stages`` is ResNet-50 whose stem and stage output widths are in the cfg as well:
``[stem, out of stages 1..4, then the 32 inner widths]`` (37 entries; full width 64, 256, 512, 1024,
2048). Every block of a stage writes into the stage's channels (residual additions), so one
width serves the stage; each stage's first block always has its projection shortcut. It is the
search space of MetaPruning's ResNet-50, and at full width it is torchvision's ResNet-50 (same keys).

``resnet50_sampled`` is ResNet-50 with a channel sampler in front of every bottleneck's first conv
(He et al. 2017, Sec. 3.3: the first conv reads a subset of the block's input, the shortcut all of
it): a :class:`~common.models.layers.ChannelSelection`, its kept channels the first of three cfg
entries per block (48 in all), then conv1's and conv2's outputs.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from common.errors import UserError
from common.models.layers import ChannelSelection
from common.models.protocol import ChannelGroup, ResidualBranch
from common.models.registry import check_widths, register_arch

DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def _downsample(in_planes: int, out_planes: int, stride: int, always: bool = False):
    if stride == 1 and in_planes == out_planes and not always:
        return None
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes))


class _Block(nn.Module):
    """``y = relu(shortcut(x) + branch(x))``, or ``relu(shortcut(x))`` without a branch; the shortcut is
    the identity or a strided 1x1 conv + BN (torchvision's ``downsample``)."""

    branch_scale = None

    def scale_branch(self, scale):
        """Multiply the branch by ``scale()`` (a scalar tensor; None: stop), folded into the affine of its
        last BN, ``s * BN(z) = BN(z)`` with weight ``s * gamma`` and bias ``s * beta``: no extra pass over
        the activations (Sparse Structure Selection's block scales)."""
        self.branch_scale = scale

    def end_bn(self, bn, z):
        if self.branch_scale is None:
            return bn(z)
        s = self.branch_scale()
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
        return F.batch_norm(z, bn.running_mean, bn.running_var, bn.weight * s, bn.bias * s,
                            bn.training or not bn.track_running_stats, bn.momentum, bn.eps)

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x):
        identity = self.shortcut(x)
        if not self.has_branch:
            return self.relu(identity)
        return self.relu(self.branch(x) + identity)


class BasicBlock(_Block):
    expansion = 1

    def __init__(self, in_planes: int, widths, planes: int, stride: int):
        super().__init__()
        self.has_branch = widths[0] > 0
        if self.has_branch:
            self.conv1 = nn.Conv2d(in_planes, widths[0], 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.conv2 = nn.Conv2d(widths[0], planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_planes, planes, stride)

    def branch(self, x):
        return self.end_bn(self.bn2, self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(_Block):
    expansion = 4

    def __init__(self, in_planes: int, widths, planes: int, stride: int, out_planes: int | None = None,
                 projection: bool = False):
        super().__init__()
        out_planes = out_planes or planes * self.expansion
        self.has_branch = widths[0] > 0
        self.sampled = len(widths) == 3             # (sampled input channels, conv1 out, conv2 out)
        conv1_in = in_planes
        if self.has_branch and self.sampled:
            self.select = ChannelSelection(in_planes, widths[0])
            conv1_in, widths = widths[0], widths[1:]
        if self.has_branch:
            self.conv1 = nn.Conv2d(conv1_in, widths[0], 1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.conv2 = nn.Conv2d(widths[0], widths[1], 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(widths[1])
            self.conv3 = nn.Conv2d(widths[1], out_planes, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_planes, out_planes, stride, projection)

    def branch(self, x):
        out = self.relu(self.bn1(self.conv1(self.select(x) if self.sampled else x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.end_bn(self.bn3, self.conv3(out))


class ImageNetResNet(nn.Module):
    def __init__(self, cfg, num_classes=1000, in_channels=3, depth=50, width=64, sampled=False, stages=False):
        super().__init__()
        kind, blocks = DEPTHS[depth]
        planes_of = [width * 2 ** s for s in range(4)]
        block = BasicBlock if kind == "basic" else Bottleneck
        per = 1 if kind == "basic" else 3 if sampled else 2
        self.per_block, self.blocks, self.stages = per, blocks, stages
        stem, outs = (cfg[0], cfg[1:5]) if stages else (width, [p * block.expansion for p in planes_of])
        self.conv1 = nn.Conv2d(in_channels, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_planes, k = stem, 5 if stages else 0
        for s, (n, planes) in enumerate(zip(blocks, planes_of)):
            layers = []
            for b in range(n):
                extra = {"out_planes": outs[s], "projection": b == 0} if stages else {}
                layers.append(block(in_planes, cfg[k:k + per], planes, 2 if s > 0 and b == 0 else 1, **extra))
                in_planes, k = outs[s], k + per
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

    def block_names(self) -> list[tuple[str, int, int]]:
        """``(block, stage, first cfg index)`` of every block in order."""
        out, k = [], 5 if self.stages else 0
        for s, n in enumerate(self.blocks):
            for b in range(n):
                out.append((f"layer{s + 1}.{b}", s, k))
                k += self.per_block
        return out

    def residual_branches(self) -> list[ResidualBranch]:
        last = "conv2" if self.per_block == 1 else "conv3"
        end = "bn2" if self.per_block == 1 else "bn3"
        if self.per_block == 3:
            return [ResidualBranch(blk, f"{blk}.bn3", (k, k + 1, k + 2), f"{blk}.conv3")
                    for blk, _, k in self.block_names() if self.cfg[k] > 0]
        return [ResidualBranch(blk, f"{blk}.{end}", tuple(range(k, k + self.per_block)), f"{blk}.{last}")
                for blk, _, k in self.block_names() if self.cfg[k] > 0]

    def channel_groups(self) -> list[ChannelGroup]:
        """Per block: conv1's output (read by conv2), and in a bottleneck conv2's (read by conv3). The
        stride sits in a basic block's conv1 and in a bottleneck's conv2 (stage 0 = layer1).
        ``resnet50_stages`` also has the stem's channels and each stage's output channels (produced
        by the first block's projection shortcut, every block's conv3 added to them)."""
        groups = self._stage_groups() if self.stages else []
        for blk, s, k in self.block_names():
            if self.cfg[k] == 0:
                continue
            first = s > 0 and blk.endswith(".0")
            if self.per_block == 3:         # the sampler (read by conv1, no BN of its own), then as below
                groups.append(ChannelGroup(f"{blk}.select", k, self.cfg[k], None, None, (f"{blk}.conv1",),
                                           stage=s - 1 if first else s, selection=f"{blk}.select"))
                k += 1
            if self.per_block == 1:
                groups.append(ChannelGroup(f"{blk}.conv1", k, self.cfg[k], f"{blk}.conv1", f"{blk}.bn1",
                                           (f"{blk}.conv2",), stage=s))
                continue
            groups += [ChannelGroup(f"{blk}.conv1", k, self.cfg[k], f"{blk}.conv1", f"{blk}.bn1", (f"{blk}.conv2",),
                                    stage=s - 1 if first else s),
                       ChannelGroup(f"{blk}.conv2", k + 1, self.cfg[k + 1], f"{blk}.conv2", f"{blk}.bn2",
                                    (f"{blk}.conv3",), stage=s)]
        return groups

    def _stage_groups(self) -> list[ChannelGroup]:
        names = [[blk for blk, s, _ in self.block_names() if s == stage] for stage in range(4)]
        groups = [ChannelGroup("conv1", 0, self.cfg[0], "conv1", "bn1", (f"{names[0][0]}.conv1",
                                                                         f"{names[0][0]}.downsample.0"), stage=0)]
        for s, blocks in enumerate(names):
            readers = [f"{b}.conv1" for b in blocks[1:]]
            readers += [f"{names[s + 1][0]}.conv1", f"{names[s + 1][0]}.downsample.0"] if s < 3 else ["fc"]
            groups.append(ChannelGroup(f"{blocks[0]}.downsample.0", s + 1, self.cfg[s + 1],
                                       f"{blocks[0]}.downsample.0", f"{blocks[0]}.downsample.1", tuple(readers),
                                       stage=s, summed=tuple((f"{b}.conv3", f"{b}.bn3") for b in blocks)))
        return groups


def default_cfg_for(depth: int, width: int = 64, sampled: bool = False) -> list[int]:
    kind, blocks = DEPTHS[depth]
    if kind == "basic":
        return [width * 2 ** s for s, n in enumerate(blocks) for _ in range(n)]
    cfg, in_planes = [], width
    for s, n in enumerate(blocks):
        for _ in range(n):
            cfg += ([in_planes] if sampled else []) + [width * 2 ** s] * 2
            in_planes = width * 2 ** s * 4
    return cfg


def _validate(arch: str, cfg, depth: int, sampled: bool = False):
    full = default_cfg_for(depth, sampled=sampled)
    per = 1 if DEPTHS[depth][0] == "basic" else 3 if sampled else 2
    check_widths(arch, cfg, expected_len=len(full), min_width=0)
    for i in range(0, len(cfg), per):
        widths = cfg[i:i + per]
        if 0 in widths and any(widths):
            raise UserError(f"cfg does not fit {arch}: block {i // per} is {widths}; a bottleneck's widths are "
                            f"all >= 1, or all 0 for a block without a residual branch")
        if sampled and widths[0] > full[i]:
            raise UserError(f"cfg does not fit {arch}: block {i // per} samples {widths[0]} of its {full[i]} "
                            f"input channels")


STAGE_CFG = [64, 256, 512, 1024, 2048]


def _validate_stages(cfg):
    check_widths("resnet50_stages", cfg, expected_len=37)


register_arch("resnet50_stages", "imagenet",
              lambda cfg, num_classes, in_channels: ImageNetResNet(cfg, num_classes, in_channels, 50, stages=True),
              lambda: STAGE_CFG + default_cfg_for(50), _validate_stages,
              "ImageNet ResNet-50 (torchvision layout) with stem and stage widths in the cfg: 5 + 32 widths")


def _register(name: str, depth: int, width: int = 64, sampled: bool = False, what: str = ""):
    register_arch(name, "imagenet",
                  lambda cfg, num_classes, in_channels: ImageNetResNet(cfg, num_classes, in_channels, depth, width,
                                                                       sampled),
                  lambda: default_cfg_for(depth, width, sampled), lambda cfg: _validate(name, cfg, depth, sampled),
                  f"ImageNet ResNet-{depth} (torchvision layout{what}), cfg = "
                  f"{len(default_cfg_for(depth, sampled=sampled))} widths")


for _depth in DEPTHS:
    _register(f"resnet{_depth}", _depth)
_register("resnet34_narrow", 34, width=16, what=", stage widths 16/32/64/128")
_register("resnet50_narrow", 50, width=16, what=", stage widths 16/32/64/128 (x4 out)")
_register("resnet50_sampled", 50, sampled=True, what=", a channel sampler before every first conv")
