"""Layers shared by several cfg-driven models."""

from __future__ import annotations

import math

import torch
import torch.nn as nn


@torch.no_grad()
def init_weights_(model: nn.Module, bn_gamma: float = 1.0, linear_std: float | None = None):
    """The original CIFAR code's init: conv weights normal(0, sqrt(2 / (k*k*C_out))) (He, fan-out),
    BN scale ``bn_gamma`` (0.5 in the VGG, PreResNet and DenseNet of Network Slimming, 1 elsewhere)
    and shift 0; linear weights normal(0, ``linear_std``) and bias 0 when it is given (VGG), else
    PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.constant_(m.weight, bn_gamma)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


class ChannelSelection(nn.Module):
    """Forward only the input channels listed in ``index`` (Network Slimming, Liu et al. 2017).

    Sits right after a BatchNorm whose input cannot shrink (the first BN of a pre-activation
    block reads the residual stream; a DenseNet BN reads the concatenated features): the BN
    keeps its full width and this layer hands only the kept channels to the next conv.

    ``index`` is a buffer of sorted, distinct channel numbers, ``selected`` long; the pruning
    surgery shortens it. Selecting every channel costs nothing: the forward returns its input.
    Unlike the original (an all-ones ``nn.Parameter``), the index is not a parameter, so it is
    not counted in parameter totals.
    """

    structural_buffers = ("index",)  # part of the architecture: kept when a model is re-initialised

    def __init__(self, channels: int, selected: int | None = None):
        super().__init__()
        selected = channels if selected is None else selected
        if not 1 <= selected <= channels:
            raise ValueError(f"cannot select {selected} of {channels} channels")
        self.channels = channels
        self.register_buffer("index", torch.arange(selected))

    def forward(self, x):
        if self.index.numel() == self.channels:  # sorted and distinct: all channels, in order
            return x
        return x.index_select(1, self.index)

    def extra_repr(self):
        return f"{self.index.numel()} of {self.channels}"
