"""MobileNet V1 (Howard et al. 2017) and V2 (Sandler et al. 2018), built from a width cfg.

Both are chains of depthwise-separable layers; a depthwise conv has one filter per input channel,
so its width is its input's and it has no cfg entry (it is listed in the channel group of the
channels it passes on, ``ChannelGroup.depthwise``).

MobileNet V1 cfg (14 widths): the stem conv's output, then the pointwise conv of each of the 13
depthwise-separable blocks (1.0x: 32, 64, 128, 128, 256, 256, 512 x 6, 1024, 1024). Stem 3x3/2 conv,
blocks ``3x3 depthwise (stride) -> BN -> ReLU -> 1x1 pointwise -> BN -> ReLU``, global average pool,
Linear. 1.0x: 4,231,976 parameters, 568.7 M multiply-accumulates at 224x224.

MobileNet V2 cfg (25 widths) -- one output width per stage, since the residual additions join every
block of a stage into the same channels: ``[stem, out of stages 1..7, hidden width of blocks 2..17,
last conv]`` (1.0x: 32; 16, 24, 32, 64, 96, 160, 320; 6 x the block's input width; 1280). Block 1
expands by 1, i.e. has no expansion conv: its depthwise conv reads the stem's channels. Layout and
state-dict keys are torchvision's (``features.<i>.conv...``, ``classifier.1``): the 1.0x model loads
``torchvision.models.mobilenet_v2()``'s state dict strictly and computes the same logits; 3,504,872
parameters, 300.8 M multiply-accumulates. ``strides`` of the stem and the seven stages are a build
option: the CIFAR variant (``common.models.cifar.mobilenet``) uses stride 1 for the stem and stage 2.
"""

from __future__ import annotations

import torch.nn as nn

from common.models.protocol import ChannelGroup
from common.models.registry import check_widths, register_arch

# ----------------------------------------------------------------------------- MobileNet V1

V1_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)        # of the 13 depthwise convs
V1_CFG = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]


def _conv_bn_relu(c_in, c_out, kernel, stride, groups=1, act=nn.ReLU):
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), act(inplace=True))


class MobileNetV1(nn.Module):
    def __init__(self, cfg, num_classes=1000, in_channels=3):
        super().__init__()
        layers = [_conv_bn_relu(in_channels, cfg[0], 3, 2)]
        for i, stride in enumerate(V1_STRIDES):     # depthwise (keeps cfg[i]) then pointwise to cfg[i + 1]
            layers.append(nn.Sequential(
                nn.Conv2d(cfg[i], cfg[i], 3, stride, 1, groups=cfg[i], bias=False), nn.BatchNorm2d(cfg[i]),
                nn.ReLU(inplace=True),
                nn.Conv2d(cfg[i], cfg[i + 1], 1, bias=False), nn.BatchNorm2d(cfg[i + 1]), nn.ReLU(inplace=True)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cfg[-1], num_classes)
        _init(self)

    def forward(self, x):
        return self.fc(self.avgpool(self.features(x)).flatten(1))

    def residual_branches(self):
        return []

    def channel_groups(self) -> list[ChannelGroup]:
        """One group per cfg entry: the conv's filters, its BN, the next block's depthwise conv (which
        passes them on) and the pointwise conv after it (or the classifier)."""
        groups, stage = [], 1
        for i in range(len(self.cfg)):
            producer = "features.0.0" if i == 0 else f"features.{i}.3"
            last = i == len(self.cfg) - 1
            groups.append(ChannelGroup(
                producer, i, self.cfg[i], producer, producer[:-1] + ("1" if i == 0 else "4"),
                ("fc",) if last else (f"features.{i + 1}.3",), stage=stage,
                depthwise=() if last else ((f"features.{i + 1}.0", f"features.{i + 1}.1"),)))
            if not last:
                stage += V1_STRIDES[i] == 2
        return groups


# ----------------------------------------------------------------------------- MobileNet V2

V2_STAGES = ((1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1))  # (t, c, n)
V2_STRIDES = (2, 1, 2, 2, 2, 1, 2, 1)       # stem, then the first block of each stage
V2_CIFAR_STRIDES = (1, 1, 1, 2, 2, 1, 2, 1)


def v2_default_cfg(widths=(32, 16, 24, 32, 64, 96, 160, 320), last=1280) -> list[int]:
    """``[stem, stage outs x 7, hidden of blocks 2..17 (t x the block's input), last]``."""
    hidden, c_in = [], widths[1]
    for (t, _, n), c_out in zip(V2_STAGES[1:], widths[2:]):
        hidden += [t * c_in] + [t * c_out] * (n - 1)
        c_in = c_out
    return [*widths, *hidden, last]


def v2_blocks():
    """``(stage 1..7, index of the block within its stage)`` of blocks 1..17, in order."""
    return [(s + 1, b) for s, (_, _, n) in enumerate(V2_STAGES) for b in range(n)]


class InvertedResidual(nn.Module):
    """torchvision's block: [1x1 expand -> BN -> ReLU6] -> 3x3 depthwise -> BN -> ReLU6 -> 1x1 -> BN,
    plus the input when the block keeps resolution and (by position) width."""

    def __init__(self, c_in, hidden, c_out, stride, expand: bool, residual: bool):
        super().__init__()
        layers = [_conv_bn_relu(c_in, hidden, 1, 1, act=nn.ReLU6)] if expand else []
        layers += [_conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = residual

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, cfg, num_classes=1000, in_channels=3, strides=V2_STRIDES, dropout=0.2):
        super().__init__()
        stem, outs, hidden, last = cfg[0], cfg[1:8], cfg[8:24], cfg[24]
        layers, c_in, h = [_conv_bn_relu(in_channels, stem, 3, strides[0], act=nn.ReLU6)], stem, iter(hidden)
        for stage, b in v2_blocks():
            first = b == 0
            expand = stage > 1
            layers.append(InvertedResidual(c_in, next(h) if expand else c_in, outs[stage - 1],
                                           strides[stage] if first else 1, expand, residual=not first))
            c_in = outs[stage - 1]
        layers.append(_conv_bn_relu(c_in, last, 1, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        self.strides = strides
        _init(self, linear_std=0.01)

    def forward(self, x):
        return self.classifier(nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1))

    def residual_branches(self):
        return []        # the branches are not removable: blocks share their stage's channels

    def channel_groups(self) -> list[ChannelGroup]:
        """The stem's channels (block 1's depthwise conv passes them to its projection); each stage's
        output channels (produced by its first block's projection conv, the other blocks' projections
        *added* to them, read by the expansion convs of the blocks after them); each block's hidden
        channels (expansion conv, its depthwise conv, read by the projection); the last conv's (read by
        the classifier)."""
        blocks = v2_blocks()
        stage_of = [int(self.strides[0] == 2)]          # resolution index after the stem and each block
        for stage, b in blocks:
            stage_of.append(stage_of[-1] + int(b == 0 and self.strides[stage] == 2))
        groups = [ChannelGroup("features.0.0", 0, self.cfg[0], "features.0.0", "features.0.1", ("features.1.conv.1",),
                               stage=stage_of[0], depthwise=(("features.1.conv.0.0", "features.1.conv.0.1"),))]

        def proj(i):
            return (f"features.{i}.conv.1", f"features.{i}.conv.2") if i == 1 else \
                (f"features.{i}.conv.2", f"features.{i}.conv.3")

        k = 8
        for stage in range(1, 8):
            members = [i + 1 for i, (s, _) in enumerate(blocks) if s == stage]
            readers = [f"features.{i}.conv.0.0" for i in members[1:]]
            readers.append(f"features.{members[-1] + 1}.0" if stage == 7 else f"features.{members[-1] + 1}.conv.0.0")
            groups.append(ChannelGroup(proj(members[0])[0], stage, self.cfg[stage], *proj(members[0]), tuple(readers),
                                       stage=stage_of[members[0]], summed=tuple(proj(i) for i in members[1:])))
        for i, (stage, _) in enumerate(blocks[1:], start=2):
            groups.append(ChannelGroup(f"features.{i}.conv.0.0", k, self.cfg[k], f"features.{i}.conv.0.0",
                                       f"features.{i}.conv.0.1", (f"features.{i}.conv.2",), stage=stage_of[i - 1],
                                       depthwise=((f"features.{i}.conv.1.0", f"features.{i}.conv.1.1"),)))
            k += 1
        groups.append(ChannelGroup("features.18.0", 24, self.cfg[24], "features.18.0", "features.18.1",
                                   ("classifier.1",), stage=stage_of[-1]))
        return groups


def _init(model, linear_std=None):
    """torchvision's MobileNet init: conv He normal (fan-out), BN 1 and 0, linear normal(0, 0.01), bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def validate_v2(arch, cfg):
    check_widths(arch, cfg, expected_len=25)


def _validate_v1(cfg):
    check_widths("mobilenet_v1", cfg, expected_len=14)


register_arch("mobilenet_v1", "imagenet", MobileNetV1, lambda: list(V1_CFG), _validate_v1,
              "MobileNet V1 (1.0x), cfg = 14 widths (stem + 13 pointwise convs)")
register_arch("mobilenet_v2", "imagenet", MobileNetV2, v2_default_cfg, lambda cfg: validate_v2("mobilenet_v2", cfg),
              "MobileNet V2 (1.0x, torchvision layout), cfg = 25 widths (stem, 7 stage outputs, 16 hidden, last)")
