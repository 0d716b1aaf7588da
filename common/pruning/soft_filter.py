"""Soft Filter Pruning (He, Kang, Dong, Fu, Yang, IJCAI 2018).

Rule (Sec. 3.2-3.3, Eq. 3 and Alg. 1): for every pruned conv layer i with ``N_i`` filters,
compute the L2 norm of each filter, ``||F_ij||_2 = sqrt(sum_(c,h,w) W_ij[c,h,w]^2)``, and set
the ``floor(N_i * P)`` filters of smallest norm to zero. ``P`` is the pruning rate, the
fraction *removed* (``--rate``; the original code's flag was the kept fraction 1 - P).
Zeroing happens before training and after every epoch; in between the zeroed filters are
trained like any other, so they may grow back ("soft"). BN parameters are left alone.
:class:`SoftFilterPruningHook` does this through the engine's epoch-end hook.

Which layers (the original code): every conv of the ResNet -- the stem and the convs of every
block, not the projection shortcuts of the ImageNet ResNets; the classifier is not pruned; one
rate for all.

After training (:func:`remove_zero_filters`): a zero filter of a block's *first* conv can
be physically removed (its output channel and the matching input slice of the block's
second conv go away; ``surgery.prune_channels``). Zero filters of the stem and of each
block's second conv feed the residual stream, which every block of the stage shares, so
they stay in the network as zeros, held there by a keep-mask saved in the pruned
checkpoint, which the engine keeps applied in fine-tuning and from-scratch training. FLOPs
are then counted on what that network computes: removed channels not at all, masked filters
not as producers.

The removed network computes exactly what the SFP network computes with the removed
channels' BN outputs set to zero. It differs from the SFP network as trained by the BN
shift of each removed channel (its zero filter makes BN emit a constant): prune.py reports
both accuracies.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from common.engine import Hook
from common.models import build_model
from common.pruning.criteria import filter_l2, l2_norm
from common.pruning.selection import keep_above, top_k
from common.pruning.surgery import prune_channels


# The CIFAR recipe of the SFP code: 200 epochs, batch 128, Nesterov SGD momentum 0.9, wd 5e-4,
# lr 0.01 for the first epoch then 0.1, x0.2 at epochs 60, 120 and 160.
RECIPE = dict(epochs=200, lr=0.1, batch_size=128, weight_decay=5e-4, milestones=(0.3, 0.6, 0.8), lr_decay=0.2,
              warmup_epochs=1, nesterov=True)


def sfp_layers(model: nn.Module) -> list[str]:
    """Module names of the convs soft-pruned: every Conv2d (stem, every conv of each block) but the
    projection shortcuts (``downsample``; the SFP ImageNet code's ``--skip_downsample``; the CIFAR
    ResNets have none)."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in n.split(".")]


def n_pruned(n_filters: int, rate: float) -> int:
    """``floor(N * P)`` filters zeroed per layer (4 of 16, 9 of 32, 19 of 64 at P = 0.3)."""
    return int(n_filters * rate + 1e-9)


@torch.no_grad()
def soft_prune_(model: nn.Module, rate: float, layers=None) -> dict[str, torch.Tensor]:
    """Zero, in place, the ``floor(N * rate)`` lowest-L2-norm filters of each layer.

    Returns layer name -> indices of the zeroed filters (ties broken by the lower index)."""
    modules = dict(model.named_modules())
    zeroed = {}
    for name in (layers if layers is not None else sfp_layers(model)):
        w = modules[name].weight
        k = n_pruned(w.shape[0], rate)
        if k == 0:
            continue
        idx = top_k(filter_l2(w), k, largest=False)
        w[idx] = 0
        if modules[name].bias is not None:
            modules[name].bias[idx] = 0
        zeroed[name] = idx
    return zeroed


class SoftFilterPruningHook(Hook):
    """Zero the lowest-norm filters before the first epoch and after every epoch.

    Also measures how soft the pruning is: ``sfp/swapped_fraction`` is the fraction of the
    filters zeroed at an epoch end that were *not* zeroed at the previous one (filters that
    grew back and displaced others). A zero filter followed by BN -> ReLU regrows only while
    its BN shift beta is positive: otherwise the ReLU outputs 0 and passes no gradient.
    """

    def __init__(self, model: nn.Module, rate: float):
        self.rate = float(rate)
        self.layers = sfp_layers(model)
        self.model = model
        self.zeroed, self.swapped = {}, 0.0

    def _prune(self):
        zeroed = soft_prune_(self.model, self.rate, self.layers)
        if self.zeroed:
            new = sum(len(set(idx.tolist()) - set(self.zeroed.get(n, torch.empty(0)).tolist()))
                      for n, idx in zeroed.items())
            self.swapped = new / max(1, sum(len(i) for i in zeroed.values()))
        self.zeroed = {n: i.cpu() for n, i in zeroed.items()}

    def on_train_start(self, trainer):
        if trainer.epoch == 0:       # a resumed run's weights were zeroed before they were saved
            self._prune()

    def on_epoch_end(self, trainer, epoch):
        self._prune()

    def state_dict(self) -> dict:
        return {"sfp_zeroed": self.zeroed}

    def load_state_dict(self, state: dict):
        self.zeroed = dict(state.get("sfp_zeroed", {}))

    def metrics(self) -> dict:
        modules = dict(self.model.named_modules())
        zero = sum(int((filter_l2(modules[n].weight) == 0).sum()) for n in self.layers)
        total = sum(modules[n].weight.shape[0] for n in self.layers)
        return {"sfp/zero_filter_fraction": zero / total, "sfp/swapped_fraction": self.swapped}


def zero_filter_mask(weight: torch.Tensor) -> torch.Tensor:
    """Bool keep-mask of ``weight``'s shape: False on the filters that are entirely zero."""
    alive = filter_l2(weight) > 0
    return alive.view(-1, *([1] * (weight.dim() - 1))).expand_as(weight).clone()


def remove_zero_filters(model: nn.Module):
    """The SFP network with its removable zero filters removed.

    Returns ``(pruned model, mask, report)``: ``mask`` maps ``<conv>.weight`` to a keep-mask
    for the zero filters that stay (stem, second convs), or is None when there are none.
    """
    modules = dict(model.named_modules())
    convs = {g.name: g.size for g in model.channel_groups()
             if g.producer is not None and isinstance(modules[g.producer], nn.Conv2d)}
    scores = {name: s.cpu() for name, s in l2_norm(model).items() if name in convs}
    keep, removed = {}, {}
    for name, alive in keep_above(scores, 0.0).items():   # every filter zero (only by hand): its first stays
        if alive.numel() < convs[name]:
            keep[name] = alive
            removed[name] = {"kept": int(alive.numel()), "of": convs[name]}
    if keep:
        pruned = prune_channels(model, keep)
    else:
        pruned = build_model(model.arch, model.num_classes, model.in_channels, model.cfg)
        pruned.load_state_dict(model.state_dict())
    mask, masked = {}, {}
    for name in sfp_layers(pruned):
        w = dict(pruned.named_modules())[name].weight
        m = zero_filter_mask(w)
        if not bool(m.all()):
            mask[f"{name}.weight"] = m
            masked[name] = {"zero_filters": int((~m.flatten(1).any(1)).sum()), "of": w.shape[0]}
    report = {"removed": removed, "masked": masked}
    return pruned, (mask or None), report
