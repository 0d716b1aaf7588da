"""ThiNet: prune a layer's channels by what the *next* layer needs (Luo, Wu, Lin, ICCV 2017).

For the channels produced by layer i and read by layer i+1 (the *consumer*, kernel k x k,
C input channels), sample m random (output channel f, position (p, q)) pairs of layer i+1
on training images and split each sampled output into its per-channel contributions
(Sec. 3.2, Eq. 3-4)::

    x̂_c = sum_{a,b} W[f, c, a, b] * X[c, p+a, q+b],        ŷ = sum_c x̂_c   (= y_f(p,q) - b_f)

Channel selection (Eq. 5-6): choose the removed set T, ``|T| = C - floor(r*C)``, minimising
``sum_samples (sum_{c in T} x̂_c)^2``, by the greedy of Algorithm 1: grow T one channel at a
time, each step adding the channel that increases that sum least. With the contribution Gram
matrix ``G = X̂^T X̂`` (C x C, accumulated over the samples) the cost of adding c to T is
``2 (G 1_T)_c + G_cc``, so after one pass over the samples every greedy step is O(C).

Least-squares scaling (Eq. 7): ``w = argmin ||ŷ - X̂_K w||^2 = G_KK^{-1} G_K: 1`` over the
kept set K; the kept input slices of layer i+1 are multiplied by ``w``. Then layer i loses
the removed filters (and their BN entries) and layer i+1 the matching input slices
(``surgery.prune_channels``).

The whole network is pruned one layer at a time, front to back, each layer sampled from the
network as pruned so far (``thinet_prune``), with an optional short fine-tune in between.
Which layers (``layerwise.paper_groups``): in a chain such as VGG every conv outside the last
stage (VGG-16: conv1_1 ... conv4_3, the paper's ThiNet-Conv schedule; ``layers="all"`` adds the
last stage); in a ResNet only the channels inside the residual branches (Sec. 4.2: block outputs
keep their width).
"""

from __future__ import annotations

import copy
import sys
import time

import torch
import torch.nn as nn
from tqdm import tqdm

from common.errors import UserError
from common.pruning.layerwise import (as_matrix, draw_positions, named_groups, paper_groups, patches, run_until,
                                      set_from_matrix, solve_normal_equations, trace_layers)
from common.pruning.selection import kept_count
from common.pruning.surgery import prune_channels

DEFAULT_LOCATIONS = 10   # (channel, position) pairs per image, as the paper


# ----------------------------------------------------------------------------- one layer

def contribution_gram(x_patches: torch.Tensor, weight: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """``G = X̂^T X̂`` for samples with receptive fields ``x_patches [m, C, k]`` at output filters
    ``filters [m]`` of a consumer with weight ``[n, C, k]``: ``x̂[s, c] = <x_patches[s, c], W[f_s, c]>``."""
    xhat = torch.einsum("sck,sck->sc", x_patches, weight[filters])
    return xhat.T @ xhat


def greedy_removal(gram: torch.Tensor, keep: int) -> torch.Tensor:
    """ThiNet's greedy (Algorithm 1): sorted indices of the ``keep`` channels left after growing
    the removed set T to ``C - keep`` channels, each step minimising ``||sum_{j in T+c} x̂_j||^2``."""
    c = gram.shape[0]
    if not 1 <= keep <= c:
        raise ValueError(f"keep must lie in [1, {c}], got {keep}")
    removed = torch.zeros(c, dtype=torch.bool, device=gram.device)
    cross = torch.zeros(c, dtype=gram.dtype, device=gram.device)        # (G 1_T)_c
    diag = gram.diagonal()
    for _ in range(c - keep):
        cost = (2 * cross + diag).masked_fill(removed, float("inf"))
        j = int(torch.argmin(cost))
        removed[j] = True
        cross += gram[:, j]
    return (~removed).nonzero().flatten()


def scale_least_squares(gram: torch.Tensor, kept: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Eq. 7: scales ``w`` of the kept channels best reproducing ``ŷ = sum_c x̂_c``; also the relative
    errors ``||ŷ - X̂_K 1||^2 / ||ŷ||^2`` (before) and ``||ŷ - X̂_K w||^2 / ||ŷ||^2`` (after)."""
    g = gram.double()
    total = g.sum().clamp_min(1e-30)                         # ||ŷ||^2 = 1^T G 1
    rhs = g[kept].sum(1)                                     # X̂_K^T ŷ
    g_kk = g[kept][:, kept]
    w = solve_normal_equations(g_kk, rhs)
    before = (total - 2 * rhs.sum() + g_kk.sum()) / total
    after = (total - 2 * w @ rhs + w @ g_kk @ w) / total
    return w.to(gram.dtype), float(before.clamp_min(0)), float(after.clamp_min(0))


@torch.no_grad()
def sample_gram(model: nn.Module, consumer: str, batches, per_image: int, positions: int,
                generator: torch.Generator) -> torch.Tensor:
    """``G`` of ``consumer`` accumulated (float64) over ``batches`` of images, ``per_image`` random
    (filter, position) pairs per image out of ``n * positions`` (``positions`` = H_out*W_out)."""
    module = dict(model.named_modules())[consumer]
    weight = as_matrix(module).float()
    gram = torch.zeros(weight.shape[1], weight.shape[1], dtype=torch.float64, device=weight.device)
    for x in batches:
        inp = run_until(model, x, inputs=[consumer])[("in", consumer)].float()
        pair = draw_positions(x.shape[0], per_image, weight.shape[0] * positions, generator).to(x.device)
        x_patches = patches(inp, module, pair % positions).flatten(0, 1)          # m, C, k
        gram += contribution_gram(x_patches, weight, (pair // positions).flatten()).double()
    return gram


# ----------------------------------------------------------------------------- the schedule

def plan_layers(model: nn.Module, layers="paper") -> list:
    """The channel groups ThiNet prunes, in order: ``"paper"`` (see the module docstring), ``"all"``,
    or a list of group names."""
    if not isinstance(layers, str):
        return named_groups(model, layers)
    return model.channel_groups() if layers == "all" else paper_groups(model)


def thinet_plan(model: nn.Module, r=0.5, layers="paper", locations=None, input_size=(3, 32, 32)) -> list:
    """Check the flags against ``model`` and return, per pruned layer in order, ``(group, consumer,
    rate, output positions of the consumer, (filter, position) pairs per image)``."""
    groups = plan_layers(model, layers)
    rates = list(r) if isinstance(r, (list, tuple)) else [r] * len(groups)
    if len(rates) != len(groups):
        raise UserError(f"{len(rates)} compression rates given for the {len(groups)} layers ThiNet prunes "
                        f"in {model.arch}")
    for rate in rates:
        if not 0.0 < rate < 1.0:
            raise UserError(f"compression rate r (the fraction of channels kept) must lie in (0, 1), got {rate}")
    consumers = [g.consumers[0] for g in groups]
    shapes = trace_layers(model, consumers, input_size)
    modules = dict(model.named_modules())
    plan = []
    for group, name, rate in zip(groups, consumers, rates):
        positions = shapes[name]["positions"]
        pairs = positions * as_matrix(modules[name]).shape[0]
        if locations is not None and locations > pairs:
            raise UserError(f"--locations {locations} is more than the {pairs} (filter, position) pairs "
                            f"per image that layer {name} has")
        plan.append((group, name, rate, positions, pairs))
    return plan


def thinet_prune(model: nn.Module, batches, *, r=0.5, layers="paper", locations=None, seed=0,
                 finetune=None, log=tqdm.write) -> tuple[nn.Module, list]:
    """Prune ``model`` layer by layer with ThiNet. Returns ``(pruned_model, per-layer report)``.

    batches:   list of normalised input batches (the sampled training images, see ``common.data.balanced_sample``)
    r:         fraction of channels kept, one float or one per pruned layer
    locations: (filter, position) pairs per image; None = 10 (or all, where a layer has fewer)
    finetune:  ``callable(model) -> model`` run after each layer (the paper's short fine-tune), or None
    """
    model = copy.deepcopy(model).eval()          # the caller's model is left as it is
    plan = thinet_plan(model, r, layers, locations, tuple(batches[0].shape[1:]))
    n_images = sum(x.shape[0] for x in batches)
    generator = torch.Generator().manual_seed(seed)
    report = []
    for group, consumer, rate, positions, pairs in tqdm(plan, desc="thinet", leave=False, dynamic_ncols=True,
                                                         disable=not sys.stderr.isatty()):
        t0 = time.perf_counter()
        module = dict(model.named_modules())[consumer]
        per_image = locations or min(DEFAULT_LOCATIONS, pairs)
        gram = sample_gram(model, consumer, batches, per_image, positions, generator)
        size = gram.shape[0]
        keep = kept_count(size, rate)
        kept = greedy_removal(gram, keep)
        w, before, after = scale_least_squares(gram, kept)
        weight = as_matrix(module)
        set_from_matrix(module, kept, weight[:, kept] * w.to(weight)[None, :, None])
        model = prune_channels(model, {group.name: kept}).to(weight.device).eval()
        row = {"layer": group.name, "consumer": consumer, "kept": keep, "of": size, "r": rate,
               "samples": per_image * n_images, "error_before_ls": before, "error_after_ls": after}
        if finetune is not None:
            model = finetune(model).eval()
        row["seconds"] = round(time.perf_counter() - t0, 3)
        report.append(row)
        log(f"{group.name:>16} -> {consumer:<16} kept {keep:4d}/{size:<4d}  rel. error {before:.4f} -> "
            f"{after:.4f} after least squares  {row['seconds']:.1f}s")
    return model, report
