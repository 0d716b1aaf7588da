"""VGG with BatchNorm for 32x32 inputs, built from a width cfg.

cfg: conv output widths in order, with ``'M'`` for a 2x2 max-pool, as in the original
code of Li et al. (2017) and Liu et al. (2017). After the conv stack a 2x2 average pool
brings the 2x2 map to 1x1, so the classifier reads ``cfg[-1]`` features.

Two heads (the two papers differ):
  * ``vgg{D}``     -- one ``Linear(cfg[-1], classes)`` (Network Slimming, weight-level
                      pruning and the lottery-ticket code use this one);
  * ``vgg{D}_mlp`` -- ``Linear(cfg[-1], 512) -> BN1d -> ReLU -> Linear(512, classes)``,
                      the VGG-16 of L1-norm filter pruning (Li et al. 2017, Table 1).

Init as the original: conv ~ N(0, sqrt(2 / (k*k*C_out))), BN gamma = 0.5, beta = 0,
Linear ~ N(0, 0.01), bias 0.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from common.models.layers import init_weights_
from common.models.protocol import ChannelGroup
from common.models.registry import check_widths, register_arch

VGG_CFGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512],
}

MLP_HIDDEN = 512


class VGG(nn.Module):
    def __init__(self, cfg, num_classes=10, in_channels=3, head="linear"):
        super().__init__()
        layers, c_in = [], in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1, bias=False),
                           nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        if head == "linear":
            self.classifier = nn.Sequential(nn.Linear(c_in, num_classes))
        elif head == "mlp":
            self.classifier = nn.Sequential(
                nn.Linear(c_in, MLP_HIDDEN), nn.BatchNorm1d(MLP_HIDDEN), nn.ReLU(inplace=True),
                nn.Linear(MLP_HIDDEN, num_classes))
        else:
            raise ValueError(f"unknown VGG head {head!r}")
        init_weights_(self, bn_gamma=0.5, linear_std=0.01)

    def forward(self, x):
        x = self.features(x)
        x = F.avg_pool2d(x, 2)
        return self.classifier(x.flatten(1))

    def conv_names(self) -> list[str]:
        return [f"features.{i}" for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]

    def channel_groups(self) -> list[ChannelGroup]:
        """One group per conv: its filters, its BN, and the next conv's (or the head's) inputs."""
        convs = self.conv_names()
        width_idx = [i for i, v in enumerate(self.cfg) if v != "M"]
        groups = []
        for k, name in enumerate(convs):
            pos = int(name.split(".")[1])
            consumer = convs[k + 1] if k + 1 < len(convs) else "classifier.0"
            stage = self.cfg[:width_idx[k]].count("M")
            groups.append(ChannelGroup(name=name, cfg_index=width_idx[k], size=self.cfg[width_idx[k]],
                                       producer=name, bn=f"features.{pos + 1}", consumers=(consumer,), stage=stage))
        return groups

    def residual_branches(self) -> list:
        return []                                   # a plain chain


def _register(depth: int):
    pattern = VGG_CFGS[depth]

    def validate(cfg, _depth=depth):
        check_widths(f"vgg{_depth}", cfg, pattern=pattern)

    for suffix, head, what in (("", "linear", "single linear classifier"),
                               ("_mlp", "mlp", "Linear-BN-ReLU-Linear head of Li et al. 2017")):
        register_arch(
            f"vgg{depth}{suffix}", "cifar",
            lambda cfg, num_classes, in_channels, _head=head: VGG(cfg, num_classes, in_channels, _head),
            lambda _p=pattern: list(_p), validate,
            f"VGG-{depth} with BN, {what}")


for _d in VGG_CFGS:
    _register(_d)
