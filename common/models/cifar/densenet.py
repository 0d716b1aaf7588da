"""DenseNets for CIFAR (Huang et al. 2017), built from a width cfg.

``densenet40`` -- the DenseNet-40 of Network Slimming (Liu et al. 2017): growth k = 12, three
dense blocks of 12 basic layers, no bottleneck, no compression, no dropout. A 3x3 stem makes
2k = 24 channels; a layer is ``BN -> select -> ReLU -> 3x3 conv (-> k)`` and its output is
concatenated to its input; a transition is ``BN -> select -> ReLU -> 1x1 conv -> 2x2 avg pool``
keeping every channel; then ``BN -> select -> ReLU -> global pool -> Linear``. Every BN reads
concatenated features that cannot shrink, so each is followed by a
:class:`~common.models.layers.ChannelSelection` choosing what its conv (or the classifier)
reads. cfg (39 numbers): the channels each selection passes on -- by default all of them:
block 1 ``24, 36, ..., 156``, transition ``168``, block 2 ``168, ..., 300``, transition ``312``,
block 3 ``312, ..., 444``, final ``456``. Init as the Network Slimming code: conv ~ N(0,
sqrt(2 / (k*k*C_out))), BN gamma 0.5, beta 0.

``densenet_bc100`` -- DenseNet-BC-100 (k = 12): three blocks of 16 bottleneck layers
``BN -> ReLU -> 1x1 conv (-> 4k) -> BN -> ReLU -> 3x3 conv (-> k)``, transitions with
compression 0.5, 2k = 24 stem channels; 0.77M parameters on CIFAR-10. cfg (48 numbers): the
bottleneck width (the 1x1 conv's output, 48 by default) of each layer. BN gamma 1, beta 0
(the DenseNet code's init).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common.errors import UserError
from common.models.layers import ChannelSelection, init_weights_
from common.models.protocol import ChannelGroup
from common.models.registry import check_widths, register_arch

GROWTH = 12


# ----------------------------------------------------------------------------- DenseNet-40

class DenseLayer(nn.Module):
    def __init__(self, in_planes: int, selected: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.select = ChannelSelection(in_planes, selected)
        self.conv = nn.Conv2d(selected, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(F.relu(self.select(self.bn(x))))], 1)


class Transition(nn.Module):
    def __init__(self, in_planes: int, selected: int, out_planes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.select = ChannelSelection(in_planes, selected)
        self.conv = nn.Conv2d(selected, out_planes, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.select(self.bn(x)))), 2)


def densenet_widths(n: int, growth: int = GROWTH) -> list[int]:
    """Input width of every selection in order (= the default cfg): n per block, 2 transitions, final."""
    widths, c = [], 2 * growth
    for b in range(3):
        for _ in range(n):
            widths.append(c)
            c += growth
        widths.append(c)  # the transition (or, after the last block, the final BN) reads all
    return widths


class DenseNet(nn.Module):
    """Basic-layer DenseNet with channel selection; ``cfg`` = channels each selection keeps."""

    def __init__(self, cfg, num_classes=10, in_channels=3, growth=GROWTH):
        super().__init__()
        n = (len(cfg) - 3) // 3
        widths = densenet_widths(n, growth)
        self.conv1 = nn.Conv2d(in_channels, 2 * growth, 3, padding=1, bias=False)
        k = 0
        for b in range(3):
            setattr(self, f"dense{b + 1}", nn.Sequential(
                *[DenseLayer(widths[k + i], cfg[k + i], growth) for i in range(n)]))
            k += n
            if b < 2:
                setattr(self, f"trans{b + 1}", Transition(widths[k], cfg[k], widths[k]))
                k += 1
        self.bn = nn.BatchNorm2d(widths[-1])
        self.select = ChannelSelection(widths[-1], cfg[-1])
        self.fc = nn.Linear(cfg[-1], num_classes)
        init_weights_(self, bn_gamma=0.5)

    def forward(self, x):
        x = self.conv1(x)
        x = self.trans1(self.dense1(x))
        x = self.trans2(self.dense2(x))
        x = self.dense3(x)
        x = F.relu(self.select(self.bn(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def selection_names(self) -> list[tuple[str, str]]:
        """``(prefix, consumer)`` of every selection in cfg order (``prefix.bn``, ``prefix.select``)."""
        n = (len(self.cfg) - 3) // 3
        names = []
        for b in range(3):
            names += [(f"dense{b + 1}.{i}", f"dense{b + 1}.{i}.conv") for i in range(n)]
            names.append((f"trans{b + 1}", f"trans{b + 1}.conv") if b < 2 else ("", "fc"))
        return names

    def channel_groups(self) -> list[ChannelGroup]:
        """One selection group per BN: the channels its conv (or the classifier) reads."""
        groups, n = [], (len(self.cfg) - 3) // 3
        for i, (prefix, consumer) in enumerate(self.selection_names()):
            dot = f"{prefix}." if prefix else ""
            groups.append(ChannelGroup(f"{dot}select", i, self.cfg[i], None, f"{dot}bn", (consumer,),
                                       stage=i // (n + 1), selection=f"{dot}select"))
        return groups

    def residual_branches(self) -> list:
        return []                                   # joins are concatenations, not sums


def _validate_densenet(arch: str, cfg, n: int):
    check_widths(arch, cfg, expected_len=3 * n + 3)
    for i, (c, full) in enumerate(zip(cfg, densenet_widths(n))):
        if c > full:
            raise UserError(f"cfg does not fit {arch}: entry {i} selects {c} channels of the {full} its BN has")


# ----------------------------------------------------------------------------- DenseNet-BC-100

class BottleneckLayer(nn.Module):
    def __init__(self, in_planes: int, width: int, growth: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, width, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, growth, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([x, out], 1)


class CompressionTransition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetBC(nn.Module):
    """Bottleneck-compression DenseNet; ``cfg`` = bottleneck width of every layer."""

    def __init__(self, cfg, num_classes=10, in_channels=3, growth=GROWTH, compression=0.5):
        super().__init__()
        n = len(cfg) // 3
        c = 2 * growth
        self.conv1 = nn.Conv2d(in_channels, c, 3, padding=1, bias=False)
        for b in range(3):
            layers = []
            for i in range(n):
                layers.append(BottleneckLayer(c, cfg[b * n + i], growth))
                c += growth
            setattr(self, f"dense{b + 1}", nn.Sequential(*layers))
            if b < 2:
                out = int(math.floor(c * compression))
                setattr(self, f"trans{b + 1}", CompressionTransition(c, out))
                c = out
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, num_classes)
        init_weights_(self)

    def forward(self, x):
        x = self.conv1(x)
        x = self.trans1(self.dense1(x))
        x = self.trans2(self.dense2(x))
        x = F.relu(self.bn(self.dense3(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def channel_groups(self) -> list[ChannelGroup]:
        """One group per layer: the bottleneck channels between its 1x1 and 3x3 convs."""
        n = len(self.cfg) // 3
        return [ChannelGroup(f"dense{b + 1}.{i}.conv1", b * n + i, self.cfg[b * n + i],
                             f"dense{b + 1}.{i}.conv1", f"dense{b + 1}.{i}.bn2", (f"dense{b + 1}.{i}.conv2",),
                             stage=b)
                for b in range(3) for i in range(n)]

    def residual_branches(self) -> list:
        return []


# ----------------------------------------------------------------------------- registration

register_arch("densenet40", "cifar",
              lambda cfg, num_classes, in_channels: DenseNet(cfg, num_classes, in_channels),
              lambda: densenet_widths(12), lambda cfg: _validate_densenet("densenet40", cfg, 12),
              "CIFAR DenseNet-40 (k=12, basic layers, no compression) with channel selection, "
              "cfg = 39 selected widths")
register_arch("densenet_bc100", "cifar",
              lambda cfg, num_classes, in_channels: DenseNetBC(cfg, num_classes, in_channels),
              lambda: [4 * GROWTH] * 48, lambda cfg: check_widths("densenet_bc100", cfg, expected_len=48),
              "CIFAR DenseNet-BC-100 (k=12, bottleneck 4k, compression 0.5), cfg = 48 bottleneck widths")
