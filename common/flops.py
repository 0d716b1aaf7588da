"""Parameters and FLOPs of a model, in the convention of Li et al. (2017).

FLOPs here are **multiply-accumulates of convolution and linear layers only** (one per
weight use, biases, BN, ReLU, pooling and additions not counted). This is the FLOP column
of the L1-norm paper (Table 1: VGG-16 3.13e8, ResNet-56 1.25e8, ResNet-110 2.53e8 on
CIFAR-10) and the ratio every Scratch-B budget is computed from.

``nonzero=True`` counts only non-zero weights, for masked (unstructured) models: a conv
then costs ``nnz(weight) * H_out * W_out`` and a linear ``nnz(weight)``.

The command line is ``scripts/count_flops.py``.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def count_params(model: nn.Module, nonzero: bool = False) -> int:
    """All parameters (conv, BN, linear), or only the non-zero entries when ``nonzero``."""
    if nonzero:
        return int(sum(int(torch.count_nonzero(p)) for p in model.parameters()))
    return int(sum(p.numel() for p in model.parameters()))


@torch.no_grad()
def forward_with_hooks(model: nn.Module, input_size, hooks) -> None:
    """One eval-mode forward pass of a zero input of ``input_size`` (C, H, W) with the forward
    hooks ``[(module, fn), ...]`` registered; hooks are removed and the train/eval mode restored."""
    handles = [m.register_forward_hook(fn) for m, fn in hooks]
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters())
        model(torch.zeros(1, *input_size, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def layer_flops(model: nn.Module, input_size=(3, 32, 32), nonzero: bool = False) -> dict[str, int]:
    """Multiply-accumulates of every Conv2d and Linear (module name -> MACs) for one input.

    A layer costs (weights used) x (output positions): ``C_out * C_in/groups * k*k * H_out*W_out``
    for a conv, ``in * out`` for a linear; with ``nonzero`` only non-zero weights are used.
    """
    flops = {}

    def hook(name):
        def record(m, inp, out):
            used = int(torch.count_nonzero(m.weight)) if nonzero else m.weight.numel()
            positions = out.numel() // (out.shape[1] if isinstance(m, nn.Conv2d) else out.shape[-1])
            flops[name] = used * positions
        return record

    forward_with_hooks(model, input_size, [(m, hook(name)) for name, m in model.named_modules()
                                           if isinstance(m, (nn.Conv2d, nn.Linear))])
    return flops


def count_flops(model: nn.Module, input_size=(3, 32, 32), nonzero: bool = False) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for one input of ``input_size`` (C, H, W)."""
    return int(sum(layer_flops(model, input_size, nonzero).values()))
