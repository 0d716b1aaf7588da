"""VGG for ImageNet in torchvision's layout, built from a width cfg.

cfg: conv output widths in order with ``'M'`` for each 2x2 max-pool (the trailing one included, as
torchvision), e.g. VGG-16 ``[64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M]``. Convs have a
bias; ``_bn`` models put a BatchNorm after each. After the features, a 7x7 adaptive average pool
and the classifier read ``cfg_last x 7 x 7`` features.

* ``vgg11_bn`` / ``vgg16_nobn`` / ``vgg16_bn`` -- torchvision's ``vgg11_bn`` / ``vgg16`` / ``vgg16_bn``
  (classifier 25088 -> 4096 -> 4096 -> classes, ReLU and dropout between): same state-dict keys, so the
  full-width models load torchvision's state dicts strictly and compute the same logits. (The name
  ``vgg16`` is the CIFAR model's.)
* ``vgg16_gap`` -- VGG-16 (no BN) without its last pool and with ThiNet's global-average-pooling head
  (Luo et al. 2017, ThiNet-GAP and ThiNet-Tiny): a 14x14 average pool, then ``Linear(cfg_last,
  classes)``. Default cfg: VGG-16's convs, full width.
* ``vgg11_bn_slimming`` -- the VGG-11 of Network Slimming's ImageNet code (Liu et al. 2017): conv +
  BN + ReLU, then Linear -> BN1d -> ReLU -> Linear -> BN1d -> ReLU -> Linear, no dropout; the two
  hidden widths are the last two cfg entries and are pruned too. BN scales (2d and 1d) start at
  0.5, conv weights He normal (fan-out).
"""

from __future__ import annotations

import torch.nn as nn

from common.models.protocol import ChannelGroup
from common.models.registry import check_widths, register_arch

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
HIDDEN = 4096


def _features(cfg, in_channels, bn):
    layers, c = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers += [nn.Conv2d(c, v, 3, padding=1)] + ([nn.BatchNorm2d(v)] if bn else []) + [nn.ReLU(inplace=True)]
        c = v
    return nn.Sequential(*layers), c


class ImageNetVGG(nn.Module):
    """``head="torchvision"``: torchvision's classifier; ``head="slimming"``: Network Slimming's, whose
    hidden widths are ``cfg[-2:]`` (the conv cfg is ``cfg[:-2]``)."""

    def __init__(self, cfg, num_classes=1000, in_channels=3, bn=True, head="torchvision"):
        super().__init__()
        self.head = head
        convs = cfg[:-2] if head == "slimming" else cfg
        self.features, c = _features(convs, in_channels, bn)
        self.avgpool = nn.AdaptiveAvgPool2d(1 if head == "gap" else (7, 7))
        if head == "gap":           # the original pools 14x14 windows of the 14x14 map: the global mean
            self.classifier = nn.Sequential(nn.Linear(c, num_classes))
        elif head == "slimming":
            h1, h2 = cfg[-2:]
            self.classifier = nn.Sequential(nn.Linear(c * 49, h1), nn.BatchNorm1d(h1), nn.ReLU(inplace=True),
                                            nn.Linear(h1, h2), nn.BatchNorm1d(h2), nn.ReLU(inplace=True),
                                            nn.Linear(h2, num_classes))
        else:
            self.classifier = nn.Sequential(nn.Linear(c * 49, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(),
                                            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(),
                                            nn.Linear(HIDDEN, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.constant_(m.weight, 0.5 if head == "slimming" else 1.0)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))

    def channel_groups(self) -> list[ChannelGroup]:
        """One group per conv (its filters, its BN if any, the next conv or the classifier's first
        layer, which reads each channel as 7x7 features); with the slimming head, also the two hidden
        layers of the classifier."""
        convs = [(i, m) for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]
        width_idx = [i for i, v in enumerate(self.cfg) if v != "M"]
        groups, first = [], "classifier.0"
        for k, (pos, conv) in enumerate(convs):
            bn = f"features.{pos + 1}" if isinstance(self.features[pos + 1], nn.BatchNorm2d) else None
            consumer = f"features.{convs[k + 1][0]}" if k + 1 < len(convs) else first
            groups.append(ChannelGroup(f"features.{pos}", width_idx[k], conv.out_channels, f"features.{pos}", bn,
                                       (consumer,), stage=self.cfg[:width_idx[k]].count("M")))
        if self.head == "slimming":
            stage = self.cfg.count("M")
            n = len(self.cfg)
            groups += [ChannelGroup("classifier.0", n - 2, self.cfg[-2], "classifier.0", "classifier.1",
                                    ("classifier.3",), stage=stage),
                       ChannelGroup("classifier.3", n - 1, self.cfg[-1], "classifier.3", "classifier.4",
                                    ("classifier.6",), stage=stage)]
        return groups

    def residual_branches(self) -> list:
        return []                                   # a plain chain


def _register(name, pattern, bn, head, what):
    register_arch(name, "imagenet",
                  lambda cfg, num_classes, in_channels: ImageNetVGG(cfg, num_classes, in_channels, bn, head),
                  lambda: list(pattern), lambda cfg: check_widths(name, cfg, pattern=pattern), what)


_register("vgg11_bn", VGG11, True, "torchvision", "ImageNet VGG-11 with BN (torchvision's vgg11_bn)")
_register("vgg16_gap", VGG16[:-1], False, "gap", "ImageNet VGG-16 without BN and its last pool, with ThiNet's "
          "global-average-pooling head")
_register("vgg16_nobn", VGG16, False, "torchvision", "ImageNet VGG-16 without BN (torchvision's vgg16)")
_register("vgg16_bn", VGG16, True, "torchvision", "ImageNet VGG-16 with BN (torchvision's vgg16_bn)")
_register("vgg11_bn_slimming", VGG11 + [HIDDEN, HIDDEN], True, "slimming",
          "ImageNet VGG-11 with BN and Network Slimming's BN1d classifier (its last two cfg entries)")
