"""Layers shared by several cfg-driven models."""

from __future__ import annotations

import torch
import torch.nn as nn


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
