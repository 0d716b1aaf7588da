"""Unstructured keep-masks: ``{parameter name: bool tensor}``, ``True`` = the entry is kept.

A masked model is the full-size model whose pruned entries are exactly zero. The engine
(``common.engine.Trainer(mask=...)``) keeps them there for every arm of every method: it
zeroes the masked gradients before each optimizer step (so momentum and weight decay never
move a pruned weight) and re-applies the mask after it. The mask travels in checkpoints
(``ckpt["mask"]``) and the FLOPs counter's ``nonzero=True`` mode counts what is left.

Which tensors are prunable is a method's choice; :func:`prunable_weights` lists the usual
sets: the weights of every ``Conv2d`` (Han et al. as re-implemented by Liu et al. 2019) or of
every ``Conv2d`` and ``Linear`` (Zimmer et al. 2023; Frankle & Carbin 2019). A mask may name
any parameter, e.g. BN scales for a structured mask.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from common.errors import UserError

LAYER_KINDS = {"conv": (nn.Conv2d,), "linear": (nn.Linear,)}


def prunable_weights(model: nn.Module, kinds=("conv",)) -> dict[str, nn.Parameter]:
    """``{name: weight}`` of every module of the given kinds (``"conv"``, ``"linear"``), in model order.

    Biases and BatchNorm parameters are never included.
    """
    unknown = set(kinds) - set(LAYER_KINDS)
    if unknown:
        raise ValueError(f"unknown layer kinds {sorted(unknown)}; use {sorted(LAYER_KINDS)}")
    types = tuple(t for k in kinds for t in LAYER_KINDS[k])
    return {f"{name}.weight": m.weight for name, m in model.named_modules()
            if isinstance(m, types) and getattr(m, "weight", None) is not None}


def check_mask(model: nn.Module, mask: dict) -> None:
    """Raise a one-line :class:`UserError` unless every entry of ``mask`` is a bool tensor of the
    shape of the model parameter it names."""
    if not isinstance(mask, dict):
        raise UserError(f"a mask must be a dict of parameter name -> bool tensor, got {type(mask).__name__}")
    params = dict(model.named_parameters())
    arch = getattr(model, "arch", type(model).__name__)
    for name, m in mask.items():
        if name not in params:
            raise UserError(f"the mask does not match the model: {arch} has no parameter {name!r}")
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise UserError(f"the mask of {name} is not a bool tensor")
        if tuple(m.shape) != tuple(params[name].shape):
            raise UserError(f"the mask does not match the model: {name} is {tuple(params[name].shape)} "
                            f"in {arch}, its mask is {tuple(m.shape)}")


@torch.no_grad()
def apply_mask_(model: nn.Module, mask: dict) -> nn.Module:
    """Zero, in place, every masked-out entry of ``model`` (after checking the mask fits)."""
    check_mask(model, mask)
    params = dict(model.named_parameters())
    for name, m in mask.items():
        params[name].mul_(m.to(params[name].device))
    return model


def mask_of_nonzero(model: nn.Module, names) -> dict:
    """The mask that keeps exactly the non-zero entries of the named parameters."""
    params = dict(model.named_parameters())
    return {n: params[n].detach().ne(0).cpu() for n in names}


def sparsity(mask: dict | None) -> float:
    """Fraction of masked-out entries over all tensors of ``mask`` (0 for no mask)."""
    if not mask:
        return 0.0
    total = sum(m.numel() for m in mask.values())
    kept = sum(int(torch.count_nonzero(m)) for m in mask.values())
    return 1.0 - kept / total if total else 0.0


def kept_params(model: nn.Module, mask: dict | None) -> int:
    """Parameters of the sparse network: all parameters minus the masked-out entries (a kept
    entry that happens to be 0, e.g. a freshly initialised BN shift, still counts)."""
    total = sum(p.numel() for p in model.parameters())
    return total - sum(m.numel() - int(torch.count_nonzero(m)) for m in (mask or {}).values())


def layer_report(mask: dict) -> dict:
    """Per tensor: kept / total and sparsity, plus the names of tensors left with no weight."""
    kept = {n: int(torch.count_nonzero(m)) for n, m in mask.items()}
    layers = {n: {"kept": kept[n], "of": m.numel(), "sparsity": round(1 - kept[n] / m.numel(), 6)}
              for n, m in mask.items()}
    return {"sparsity": sparsity(mask), "layers": layers,
            "emptied": [n for n, v in layers.items() if v["kept"] == 0]}


def to_cpu_bool(mask: dict | None) -> dict | None:
    return None if mask is None else {k: v.detach().to("cpu", torch.bool) for k, v in mask.items()}


class MaskKeeper:
    """Keeps ``mask`` applied to ``model`` during training (what the engine calls each step).

    ``mask_grads()`` after backward: masked gradients become 0, so SGD's momentum buffer and
    weight-decay term of a pruned entry stay 0. ``apply()`` after the optimizer step: the pruned
    entries are set to exactly 0 again whatever the optimizer did. Both are one fused
    multi-tensor multiply by a float copy of the mask.
    """

    def __init__(self, model: nn.Module, mask: dict):
        check_mask(model, mask)
        params = dict(model.named_parameters())
        self.names = list(mask)
        self.params = [params[n] for n in self.names]
        # float copies laid out like their parameter (channels_last stays channels_last)
        self.masks = [torch.empty_like(p).copy_(mask[n]) for n, p in zip(self.names, self.params)]

    @torch.no_grad()
    def apply(self):
        torch._foreach_mul_(self.params, self.masks)

    @torch.no_grad()
    def mask_grads(self):
        pairs = [(p.grad, m) for p, m in zip(self.params, self.masks) if p.grad is not None]
        if pairs:
            grads, masks = zip(*pairs)
            torch._foreach_mul_(list(grads), list(masks))

    @torch.no_grad()
    def mask_optimizer_state(self, optimizer: torch.optim.Optimizer):
        """Zero the optimizer's per-entry state (e.g. SGD momentum) of pruned entries, so a newly
        pruned weight carries nothing over."""
        for p, m in zip(self.params, self.masks):
            for v in optimizer.state.get(p, {}).values():
                if isinstance(v, torch.Tensor) and v.shape == p.shape:
                    v.mul_(m)


@torch.no_grad()
def sparse_kaiming_init_(model: nn.Module, mask: dict) -> nn.Module:
    """Re-initialise every masked conv weight as He et al. for its *surviving* connections, then mask.

    ``W ~ N(0, sqrt(2 / n))`` with ``n = nnz(mask) / C_in`` -- the fan-out ``k*k*C_out`` scaled by
    the layer's density -- as the weight-level Scratch-E/B and the lottery random re-init of
    Liu et al. (2019) do. Other masked tensors keep their initialisation (times the mask).
    """
    check_mask(model, mask)
    modules = dict(model.named_modules())
    for name, m in mask.items():
        module = modules.get(name.rsplit(".", 1)[0])
        if isinstance(module, nn.Conv2d) and name.endswith(".weight"):
            n = int(torch.count_nonzero(m)) / (module.in_channels // module.groups)
            if n > 0:
                module.weight.normal_(0.0, math.sqrt(2.0 / n))
    return apply_mask_(model, mask)
