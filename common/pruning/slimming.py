"""Network Slimming (Liu, Li, Shen, Huang, Yan, Zhang, ICCV 2017).

Training objective (Eq. 1): ``L = sum_(x,y) l(f(x, W), y) + lambda * sum_(gamma in Gamma) |gamma|``,
the L1 penalty on the BatchNorm scales gamma. As the original code, it is applied as a
sub-gradient after the backward pass: ``grad(gamma) += lambda * sign(gamma)``
(:class:`SparsityHook`, an engine hook; the BN shifts beta are not penalised).

Pruning (Sec. 4.2 and the original code): one *global* threshold over the |gamma| of every
prunable channel of the network. With ``k = int(total * percent)``, the threshold is the
k-th smallest |gamma| and a channel survives iff ``|gamma| > threshold``
(``selection.global_threshold``). The surviving channels form the smaller network, weights copied
(``surgery.prune_channels``; channels a BN hands to a ``ChannelSelection`` are removed by
shortening the selection).

Differences from the original code, on purpose:
  * the original takes the value *at* index k of the ascending sort, so it removes one
    channel more than the fraction (and one at percent 0); here exactly k (more only on ties);
  * no layer may lose every channel (the original then crashed): each layer keeps at least
    ``max(1, ceil(min_keep * width))`` channels, its largest-|gamma| ones
    (``selection.keep_global``), and the layers that hit this floor are reported;
  * the scales ranked and penalised are those of the BNs that score a prunable channel
    group (``model.channel_groups()``) -- every BN in VGG, PreResNet and DenseNet-40, as the
    original; on other nets, BNs whose channels cannot be removed are left alone.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from common.engine import Hook
from common.pruning.criteria import bn_scale
from common.pruning.selection import keep_global
from common.pruning.surgery import prune_channels


# The paper's settings (README of the original code; Rethinking, Table 5).
PAPER_LAMBDA = {"vgg": 1e-4, "preresnet": 1e-5, "densenet": 1e-5}


def paper_lambda(arch: str, kind: str = "cifar") -> float:
    """lambda of the sparsity penalty for ``arch``: 1e-4 for VGG, 1e-5 otherwise; 1e-5 on ImageNet."""
    if kind == "imagenet":
        return 1e-5
    return next((v for k, v in PAPER_LAMBDA.items() if arch.startswith(k)), 1e-5)


def paper_percents(arch: str, dataset: str, kind: str = "cifar") -> tuple:
    """Fractions of channels pruned: VGG 0.7 (0.5 on CIFAR-100 and ImageNet), PreResNet and DenseNet 0.4
    and 0.6."""
    if arch.startswith("vgg"):
        return (0.5,) if dataset == "cifar100" or kind == "imagenet" else (0.7,)
    return (0.4, 0.6)


def scored_bns(model: nn.Module) -> list[nn.BatchNorm2d]:
    """The distinct BatchNorms whose scales score the model's prunable channels."""
    modules = dict(model.named_modules())
    names = list(dict.fromkeys(g.bn for g in model.channel_groups() if g.bn is not None))
    return [modules[n] for n in names]


class SparsityHook(Hook):
    """``grad(gamma) += lam * sign(gamma)`` on every scored BN scale, after backward (Eq. 1)."""

    def __init__(self, model: nn.Module, lam: float):
        self.lam = float(lam)
        self.scales = [bn.weight for bn in scored_bns(model)]

    def after_backward(self, trainer):
        if self.lam == 0:
            return
        scales = [w for w in self.scales if w.grad is not None]
        torch._foreach_add_([w.grad for w in scales], torch._foreach_sign(scales), alpha=self.lam)

    def metrics(self) -> dict:
        with torch.no_grad():
            g = torch.cat([w.detach().abs().flatten() for w in self.scales])
        return {"slimming/mean_abs_gamma": g.mean().item(),
                "slimming/frac_gamma_below_0.01": (g < 0.01).float().mean().item()}


def slimming_keep(model: nn.Module, percent: float, min_keep: float = 0.0):
    """Channels to keep per group, and a report: the criterion ``|gamma|`` (``criteria.bn_scale``) with one global
    threshold (``selection.keep_global``); a layer keeps at least ``max(1, ceil(min_keep * width))`` channels."""
    return keep_global(bn_scale(model), percent, min_keep)


def slimming_prune(model: nn.Module, percent: float, min_keep: float = 0.0):
    """Network Slimming in one call: ``(smaller model with copied weights, report)``."""
    keep, report = slimming_keep(model, percent, min_keep)
    return prune_channels(model, keep), report
