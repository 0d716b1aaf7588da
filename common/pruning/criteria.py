"""What a channel is worth: the criteria of structured pruning.

Structured pruning here is *criterion x selector x surgery*:

  criterion   model (and data) -> ``{group name: score of each channel}``, higher = more worth keeping
              (this file; the groups are ``model.channel_groups()``, ``common.models.protocol``)
  selector    scores -> ``{group name: kept channel indices}``: per-layer counts, one global threshold,
              a paper's plan (``selection.py``)
  surgery     ``surgery.prune_channels(model, kept)``: the smaller network with the kept weights

A criterion from weights needs only the model; one from activations or gradients also reads ``batches``,
``(x, y)`` training batches (in ``prune.py``: ``data.sample(n)``, class-balanced). A new criterion is one
function of this shape.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def filter_l1(weight: torch.Tensor) -> torch.Tensor:
    """``s_j = sum_{c,h,w} |W[j, c, h, w]|`` for every output filter j (Li et al. 2017, Sec. 3.1)."""
    return weight.detach().abs().flatten(1).sum(1)


def filter_l2(weight: torch.Tensor) -> torch.Tensor:
    """``||W_j||_2`` for every output filter j (He et al. 2018, Eq. 3)."""
    return weight.detach().flatten(1).norm(p=2, dim=1)


def _producers(model: nn.Module, norm) -> dict[str, torch.Tensor]:
    modules = dict(model.named_modules())
    return {g.name: norm(modules[g.producer].weight) for g in model.channel_groups() if g.producer is not None}


def l1_norm(model: nn.Module) -> dict[str, torch.Tensor]:
    """Filter L1 norm of each group's producing conv (Li et al., ICLR 2017)."""
    return _producers(model, filter_l1)


def l2_norm(model: nn.Module) -> dict[str, torch.Tensor]:
    """Filter L2 norm of each group's producing conv (Soft Filter Pruning, He et al., IJCAI 2018)."""
    return _producers(model, filter_l2)


def bn_scale(model: nn.Module) -> dict[str, torch.Tensor]:
    """``|gamma|`` of each channel's BatchNorm scale (Network Slimming, Liu et al., ICCV 2017, Sec. 3.2); a
    selection group's channels are the selected entries of its wider BN. On the CPU, as float."""
    modules = dict(model.named_modules())
    scores = {}
    for g in model.channel_groups():
        gamma = modules[g.bn].weight.detach().abs()
        if g.selection is not None:
            gamma = gamma[modules[g.selection].index]
        scores[g.name] = gamma.float().cpu()
    return scores


def activation_module(group) -> str:
    """Where a group's channels leave as the activation that removing them zeroes: the selection that picks them,
    else their BatchNorm, else the producing conv."""
    return group.selection or group.bn or group.producer


def taylor(model: nn.Module, batches, normalise: bool = False) -> dict[str, torch.Tensor]:
    """First-order Taylor criterion (Molchanov, Tyree, Karras, Aila, Kautz, ICLR 2017, Eq. 8): removing channel
    k changes the loss by about ``|dC/dz_k . z_k|``, scored per image as ``|(1/M) sum_m dC/dz_{k,m} z_{k,m}|``
    over the M positions of its feature map z_k and summed over the images of ``batches`` ((x, y) pairs; C is the
    batch's mean cross-entropy, the model in eval mode). ``normalise``: divide each layer's scores by their L2
    norm (Sec. 2.3), for ranking across layers."""
    modules, scores = dict(model.named_modules()), {}
    groups = model.channel_groups()

    def record(name):
        def hook(module, inputs, out):
            z = out.detach().clone()           # before any in-place op that follows (ReLU, residual add)

            def on_grad(grad):                 # dC/dz of this very tensor, in-place ops after it or not
                zg = z * grad
                per_image = zg.flatten(2).mean(2).abs() if zg.dim() > 2 else zg.abs()
                scores[name] = scores.get(name, 0) + per_image.sum(0).double()
            out.register_hook(on_grad)
        return hook

    handles = [modules[activation_module(g)].register_forward_hook(record(g.name)) for g in groups]
    was_training = model.training
    model.eval()
    try:
        for x, y in batches:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    scores = {g.name: scores.get(g.name, torch.zeros(g.size, dtype=torch.float64)) for g in groups}
    if normalise:
        scores = {k: v / v.norm().clamp_min(1e-30) for k, v in scores.items()}
    return {k: v.float().cpu() for k, v in scores.items()}
