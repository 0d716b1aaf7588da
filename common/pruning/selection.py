"""Which channels survive: the selectors of structured pruning (``criteria.py`` says what the three parts are).

A selector turns scores (``{group name: score of each channel}``) into kept channels
(``{group name: sorted kept indices}``), the input of ``surgery.prune_channels``:

  ``keep_top(scores, counts)``           per layer, the ``counts[group]`` best channels (a plan of counts:
                                         ``per_layer_ratio``, a paper's configuration, a FLOPs target)
  ``keep_global(scores, percent)``       one threshold over all layers, removing ``percent`` of the channels,
                                         with a floor per layer (``min_keep``)
  ``keep_above(scores, threshold)``      every channel scoring above a value (e.g. SFP's non-zero filters)

``top_k`` is the one top-k of the library: ties go to the lower channel index.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def top_k(scores: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    """Sorted indices of the ``k`` largest (``largest=False``: smallest) scores; ties broken by the lower index."""
    order = torch.sort(scores, descending=largest, stable=True).indices
    return order[:k].sort().values


def kept_count(size: int, fraction: float) -> int:
    """``floor(size * fraction)`` channels, at least one."""
    return max(1, int(size * fraction))


def per_layer_ratio(model: nn.Module, ratio: float, groups=None) -> dict[str, int]:
    """Counts that remove the fraction ``ratio`` of every group (of ``groups``, default all of them)."""
    return {g.name: kept_count(g.size, 1 - ratio) for g in (groups or model.channel_groups())}


def keep_top(scores: dict, counts: dict) -> dict[str, torch.Tensor]:
    """Per group in ``counts``, its ``counts[group]`` highest-scoring channels."""
    return {name: top_k(scores[name], k) for name, k in counts.items()}


def global_threshold(scores, percent: float) -> float:
    """The k-th smallest score over every group, k = int(total * percent); channels above it survive.
    ``percent`` 0 gives -inf (nothing removed)."""
    flat = torch.cat([s.flatten() for s in scores.values()]) if isinstance(scores, dict) else scores.flatten()
    k = int(flat.numel() * percent)
    if k == 0:
        return float("-inf")
    return torch.kthvalue(flat, k).values.item()


def keep_global(scores: dict, percent: float, min_keep: float = 0.0):
    """One threshold over all groups (:func:`global_threshold`), each group keeping at least
    ``max(1, ceil(min_keep * width))`` channels (its best ones). Returns ``(kept, report)``: the report holds the
    threshold, per-layer kept/total and the layers whose survivors were raised to their floor."""
    threshold = global_threshold(scores, percent)
    keep, layers, floored = {}, {}, {}
    for name, s in scores.items():
        floor = max(1, math.ceil(min_keep * s.numel()))
        idx = torch.nonzero(s > threshold).flatten()
        if idx.numel() < floor:
            floored[name] = {"above_threshold": int(idx.numel()), "kept": floor, "of": int(s.numel())}
            idx = top_k(s, floor)
        keep[name] = idx
        layers[name] = {"kept": int(idx.numel()), "of": int(s.numel())}
    total = sum(s.numel() for s in scores.values())
    kept = sum(v["kept"] for v in layers.values())
    report = {"percent": percent, "min_keep": min_keep, "threshold": threshold,
              "channels_total": total, "channels_kept": kept,
              "channels_removed_fraction": 1 - kept / total, "layers": layers, "floor_hit": floored}
    return keep, report


def keep_above(scores: dict, threshold: float = 0.0) -> dict[str, torch.Tensor]:
    """Per group, the channels scoring above ``threshold`` (at least its best one)."""
    keep = {}
    for name, s in scores.items():
        idx = torch.nonzero(s > threshold).flatten()
        keep[name] = idx if idx.numel() else top_k(s, 1)
    return keep
