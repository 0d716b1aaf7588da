"""Weight-level magnitude pruning (Han, Pool, Tran, Dally, NeurIPS 2015).

Remove the connections of smallest magnitude ``|w|`` and keep the rest with their trained
values (Sec. 3 of the paper: train, prune, retrain). As re-implemented by Liu et al. (2019,
Sec. 4.3): **one global threshold** over the weights of every conv layer, chosen so that a
fraction ``p`` of them is removed (``--percent``); the pruned model is the full network with a
keep-mask (``common.masks``) and the mask is kept during fine-tuning.

Selection here is exact: the ``k = round(p * N)`` smallest magnitudes are removed, ties at the
threshold broken by position (earlier tensor, then lower flat index, first), so the achieved
sparsity is the requested one even when many weights share a value (the original's
``|w| <= threshold`` removed every tie). Weights already masked out stay masked out, so the
same functions serve iterative pruning (Lottery Ticket, IMP): ``prune_fraction_of_remaining``
removes a fraction of the weights still alive, ``prune_to_sparsity`` reaches an overall
sparsity. ``scope="layer"`` applies the same rule inside every tensor instead of globally.
"""

from __future__ import annotations

import torch

from common.errors import UserError
from common.masks import apply_mask_, layer_report, prunable_weights


def keep_all_but_smallest(scores: torch.Tensor, k: int, alive: torch.Tensor | None = None) -> torch.Tensor:
    """Bool keep-mask of the 1-D ``scores`` that drops exactly the ``k`` smallest entries among the
    ``alive`` ones (all if None); entries not alive are never kept. Among equal values the lower
    indices are dropped first. O(N): one ``kthvalue`` over the alive scores and a few compares."""
    candidates = scores if alive is None else scores[alive]
    n = candidates.numel()
    if k <= 0:
        return torch.ones_like(scores, dtype=torch.bool) if alive is None else alive.clone()
    if k >= n:
        return torch.zeros_like(scores, dtype=torch.bool)
    t = torch.kthvalue(candidates, k).values
    keep = scores > t
    tied = scores == t
    if alive is not None:
        keep &= alive
        tied &= alive
    ties = tied.nonzero().flatten()
    n_below = n - int(torch.count_nonzero(keep)) - ties.numel()
    keep[ties[k - n_below:]] = True          # the first (k - n_below) ties are dropped
    return keep


def _check_fraction(value: float, what: str):
    if not 0.0 <= value < 1.0:
        raise UserError(f"{what} must lie in [0, 1), got {value}")


def _alive(mask: dict | None, name: str, numel: int) -> int:
    """Surviving entries of tensor ``name`` under ``mask``."""
    return int(torch.count_nonzero(mask[name])) if mask and name in mask else numel


def _remove(weights: dict, mask: dict | None, n_remove, scope: str) -> dict:
    """New mask removing ``n_remove`` more surviving entries of ``weights``, smallest ``|w|`` first
    (``scope="global"``: one int over all tensors; ``"layer"``: ``{name: int}``). Entries already
    masked out stay masked out."""
    mask = dict(mask or {})
    device = next(iter(weights.values())).device
    alive = {n: mask[n].to(device).flatten() if n in mask else None for n in weights}
    if scope == "global":
        sizes = [w.numel() for w in weights.values()]
        flat = torch.empty(sum(sizes), dtype=torch.float32, device=device)
        for w, part in zip(weights.values(), flat.split(sizes)):
            torch.abs(w.detach().flatten(), out=part)
        flat_alive = None
        if any(a is not None for a in alive.values()):
            flat_alive = torch.cat([a if a is not None else torch.ones(s, dtype=torch.bool, device=device)
                                    for a, s in zip(alive.values(), sizes)])
        keeps = keep_all_but_smallest(flat, n_remove, flat_alive).split(sizes)
    elif scope == "layer":
        keeps = [keep_all_but_smallest(w.detach().abs().flatten().float(), n_remove[n], alive[n])
                 for n, w in weights.items()]
    else:
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    for (n, w), keep in zip(weights.items(), keeps):
        mask[n] = keep.view(w.shape).cpu()
    return mask


def prune_fraction_of_remaining(weights: dict, fraction: float, mask: dict | None = None,
                                scope: str = "global") -> dict:
    """Remove ``round(fraction * alive)`` of the still-alive entries of ``weights`` (globally or per
    tensor), the smallest ``|w|`` first; returns the new mask (old pruned entries stay pruned)."""
    _check_fraction(fraction, "the fraction to prune")
    alive = {n: _alive(mask, n, w.numel()) for n, w in weights.items()}
    if scope == "global":
        n_remove = round(fraction * sum(alive.values()))
    else:
        n_remove = {n: round(fraction * a) for n, a in alive.items()}
    return _remove(weights, mask, n_remove, scope)


def prune_to_sparsity(weights: dict, target: float, mask: dict | None = None, scope: str = "global") -> dict:
    """Prune until ``round(target * N)`` entries of ``weights`` are masked out (globally or in every
    tensor), the smallest surviving ``|w|`` first. Already-pruned entries count and stay pruned."""
    _check_fraction(target, "the sparsity")
    dead = {n: w.numel() - _alive(mask, n, w.numel()) for n, w in weights.items()}
    if scope == "global":
        want = round(target * sum(w.numel() for w in weights.values()))
        if want < sum(dead.values()):
            raise UserError(f"the model is already {sum(dead.values()) / sum(w.numel() for w in weights.values()):.4f} "
                            f"sparse, more than the requested {target}")
        n_remove = want - sum(dead.values())
    else:
        n_remove = {n: max(0, round(target * w.numel()) - dead[n]) for n, w in weights.items()}
    return _remove(weights, mask, n_remove, scope)


def magnitude_prune(model, percent: float, kinds=("conv",), scope: str = "global", mask: dict | None = None):
    """Han et al. one-shot pruning as in Liu et al. (2019): mask out ``percent`` of the weights of
    the ``kinds`` layers by magnitude (one global threshold unless ``scope="layer"``), zero them in
    ``model`` and return ``(mask, report)``. ``mask`` = an existing mask to extend."""
    weights = prunable_weights(model, kinds)
    new = prune_to_sparsity(weights, percent, mask, scope)
    apply_mask_(model, new)
    return new, layer_report({n: new[n] for n in weights})
