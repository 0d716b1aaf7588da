"""Turn ``(model, kept channel indices)`` into the smaller cfg model, weights copied.

Every model lists its prunable channel groups (``model.channel_groups()``, see
``common.models.protocol``): the conv that produces the channels, the BatchNorm after it, any
depthwise convs that pass them through, and the layers that read them. Removing channels of a
group slices, along the channel dimension,
  * the producer's weight (dim 0) and bias, and those of the producers summed into the same
    channels by residual additions (``summed``) with their BatchNorms,
  * the BatchNorm's weight, bias, running mean and running variance,
  * each depthwise conv's weight (dim 0: one filter per channel) and bias, and its BatchNorm,
  * each consumer's weight along its input dimension (dim 1 of a conv or linear weight; a linear
    layer that reads each channel as ``k`` flattened features, e.g. after VGG's 7x7 pool, loses the
    ``k`` columns of each removed channel),
  * for a selection group (channels a ``ChannelSelection`` picks out of a wider BN output),
    the selection's ``index`` instead of a producer and BN, which keep their width,
then rebuilds ``(arch, cfg')`` from the registry and loads the sliced state dict strictly,
so a shape that does not fit fails loudly. No per-arch code lives here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from common.errors import UserError
from common.models import build_model


def _bn_slices(bn: str) -> list[tuple[str, int, int]]:
    return [(f"{bn}.{k}", 0, 1) for k in ("weight", "bias", "running_mean", "running_var")]


def _slices(model: nn.Module, group) -> list[tuple[str, int, int]]:
    """``(state-dict key, dim, span)`` of every tensor the group's channels live in: channel ``c`` is
    entries ``c*span .. c*span + span - 1`` along ``dim``."""
    modules = dict(model.named_modules())
    out = []
    if group.selection is not None:
        out.append((f"{group.selection}.index", 0, 1))
    else:
        producer = modules[group.producer]
        out.append((f"{group.producer}.weight", 0, 1))
        if getattr(producer, "bias", None) is not None:
            out.append((f"{group.producer}.bias", 0, 1))
        if group.bn is not None:
            out += _bn_slices(group.bn)
    for conv, bn in group.summed:
        out.append((f"{conv}.weight", 0, 1))
        if getattr(modules[conv], "bias", None) is not None:
            out.append((f"{conv}.bias", 0, 1))
        if bn is not None:
            out += _bn_slices(bn)
    for conv, bn in group.depthwise:
        m = modules[conv]
        if not (isinstance(m, nn.Conv2d) and m.groups == m.in_channels == m.out_channels == group.size):
            raise ValueError(f"{conv} is listed as depthwise in group {group.name} but is {m}")
        out.append((f"{conv}.weight", 0, 1))
        if m.bias is not None:
            out.append((f"{conv}.bias", 0, 1))
        if bn is not None:
            out += _bn_slices(bn)
    for name in group.consumers:
        m = modules[name]
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            raise NotImplementedError(f"consumer {name} is a grouped conv; list a depthwise conv in the "
                                      f"group's depthwise, not as a consumer")
        span = 1
        if isinstance(m, nn.Linear):
            span, rest = divmod(m.in_features, group.size)
            if rest:
                raise NotImplementedError(f"consumer {name} reads {m.in_features} features from {group.size} channels")
        out.append((f"{name}.weight", 1, span))
    return out


def _check_keep(group, idx) -> torch.Tensor:
    idx = torch.as_tensor(idx, dtype=torch.long).flatten().unique(sorted=True)
    if idx.numel() == 0:
        raise UserError(f"pruning would remove every channel of {group.name}")
    if idx[0] < 0 or idx[-1] >= group.size:
        raise ValueError(f"kept indices of {group.name} out of range [0, {group.size})")
    return idx


def prune_channels(model: nn.Module, keep: dict) -> nn.Module:
    """A new model of the same arch keeping, for each group name in ``keep``, the listed channels.

    Groups not named keep all their channels. The new model has ``model``'s weights for the
    surviving channels and is in ``model``'s train/eval mode, on the CPU.
    """
    groups = {g.name: g for g in model.channel_groups()}
    unknown = set(keep) - set(groups)
    if unknown:
        raise ValueError(f"unknown channel groups {sorted(unknown)}; this model has {sorted(groups)}")
    cfg = list(model.cfg)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    for name, idx in keep.items():
        group = groups[name]
        idx = _check_keep(group, idx)
        cfg[group.cfg_index] = int(idx.numel())
        for key, dim, span in _slices(model, group):
            entries = idx if span == 1 else (idx[:, None] * span + torch.arange(span)).flatten()
            state[key] = state[key].index_select(dim, entries)
    new = build_model(model.arch, model.num_classes, model.in_channels, cfg)
    new.load_state_dict(state, strict=True)
    return new.train(model.training)


@torch.no_grad()
def zero_channels(model: nn.Module, keep: dict) -> nn.Module:
    """Zero, in place, every channel *not* kept: producer filters, bias, BN weight and bias, and the
    same for the depthwise convs passing them on and the producers summed into them (for a selection
    group: the BN weight and bias of the selected channels dropped; for a sampler without a BN, the
    consumers' input weights).

    The zeroed channels then output exactly 0 after BN (and ReLU), so the model computes
    what :func:`prune_channels` with the same ``keep`` computes -- the check surgery is
    tested against.
    """
    groups = {g.name: g for g in model.channel_groups()}
    modules = dict(model.named_modules())
    for name, idx in keep.items():
        group = groups[name]
        drop = torch.ones(group.size, dtype=torch.bool)
        drop[_check_keep(group, idx)] = False
        if group.selection is not None and group.bn is None:   # a sampler: the consumers stop reading them
            for name in group.consumers:
                modules[name].weight[:, drop.to(modules[name].weight.device)] = 0
            continue
        if group.selection is not None:  # the BN is wider: its channels are selection.index
            bn_channels = modules[group.selection].index[drop.to(modules[group.selection].index.device)]
            modules[group.bn].weight[bn_channels] = 0
            modules[group.bn].bias[bn_channels] = 0
            continue
        producer = modules[group.producer]
        producer.weight[drop] = 0
        if getattr(producer, "bias", None) is not None:
            producer.bias[drop] = 0
        for m in (group.bn, *(name for pair in (*group.depthwise, *group.summed) for name in pair)):
            if m is None:
                continue
            modules[m].weight[drop] = 0
            if getattr(modules[m], "bias", None) is not None:
                modules[m].bias[drop] = 0
    return model
