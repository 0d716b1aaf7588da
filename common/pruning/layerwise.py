"""What layer-by-layer reconstruction pruning needs from a network: samples and least squares.

ThiNet (``thinet.py``) and the LASSO channel pruning of He et al. (``regression.py``) both
prune the channels read by one *consumer* layer (the conv or linear after them) so that
the consumer's output is kept. Both look at the consumer at a few random output positions
of a few training images and need, per sample:

  * the consumer's input patch   ``X [m, C, k]``  (``k = kh*kw``: the receptive field),
  * the consumer's output        ``Y [m, n]``     (before BN; a linear layer has ``k = 1``).

This module draws the images and positions, captures tensors with forward hooks (the
forward pass stops as soon as the last wanted tensor is seen, so sampling a shallow layer
costs a shallow forward), cuts patches with one indexing op per batch, and solves the
normal equations both methods end with. Nothing here loops over samples or channels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from common.errors import UserError
from common.flops import forward_with_hooks
from common.models.protocol import require_protocol


# ----------------------------------------------------------------------------- layers

def paper_groups(model: nn.Module) -> list:
    """The channel groups layer-wise methods prune by default, in network order: in a residual
    network the channels inside the residual branches (a block's output width is its shortcut's),
    in a chain every group outside the last stage (VGG-16: conv1_1 ... conv4_3)."""
    require_protocol(model, "layer-wise channel pruning")
    groups = model.channel_groups()
    branches = model.residual_branches()
    if branches:
        inside = {i for b in branches for i in b.cfg_indices}
        return [g for g in groups if g.cfg_index in inside]
    last = max(g.stage for g in groups)
    return [g for g in groups if g.stage < last]


def named_groups(model: nn.Module, names) -> list:
    """The channel groups called ``names``, in network order; unknown names raise a UserError."""
    groups = model.channel_groups()
    unknown = sorted(set(names) - {g.name for g in groups})
    if unknown:
        raise UserError(f"{model.arch} has no channel group {unknown[0]!r}; "
                        f"choose from {', '.join(g.name for g in groups)}")
    return [g for g in groups if g.name in set(names)]


def as_matrix(module: nn.Module) -> torch.Tensor:
    """The consumer's weight as ``[n, C, k]`` (a linear layer is a 1x1 conv on a 1x1 map)."""
    w = module.weight.detach()
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise UserError(f"layer-wise channel pruning does not handle grouped convs ({module})")
        return w.flatten(2)
    if isinstance(module, nn.Linear):
        return w.unsqueeze(2)
    raise UserError(f"cannot prune the inputs of a {type(module).__name__}; only Conv2d and Linear")


def set_from_matrix(module: nn.Module, channels: torch.Tensor, w: torch.Tensor):
    """Write ``w [n, len(channels), k]`` into the input slices ``channels`` of the consumer."""
    with torch.no_grad():
        module.weight[:, channels] = w.reshape(module.weight[:, channels].shape).to(module.weight.dtype)


@torch.no_grad()
def trace_layers(model: nn.Module, names, input_size) -> dict:
    """For each named consumer: output positions per image and the BatchNorm fed by its output.

    One forward pass of a single zero image; returns
    ``{name: {"positions": H_out*W_out (1 for a linear layer), "hw": (H_out, W_out), "bn": name | None}}``.
    """
    modules = dict(model.named_modules())
    outputs, info = {}, {}

    def on_consumer(name):
        def hook(m, inp, out):
            outputs[id(out)] = name
            hw = tuple(out.shape[2:]) if out.dim() == 4 else (1, 1)
            info[name] = {"positions": hw[0] * hw[1], "hw": hw, "bn": None}
        return hook

    def on_bn(name):
        def hook(m, inp, out):
            src = outputs.get(id(inp[0]))
            if src is not None and info[src]["bn"] is None:
                info[src]["bn"] = name
        return hook

    hooks = [(modules[name], on_consumer(name)) for name in names]
    hooks += [(m, on_bn(name)) for name, m in modules.items() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    forward_with_hooks(model, input_size, hooks)
    return info


# ----------------------------------------------------------------------------- capture

class _Captured(Exception):
    """Raised inside a hook once every wanted tensor is in hand: the rest of the forward is skipped."""


@torch.no_grad()
def run_until(model: nn.Module, x: torch.Tensor, inputs=(), outputs=()) -> dict:
    """Forward ``x`` only as far as needed to see the *input* of each module named in ``inputs``
    and the *output* of each named in ``outputs``; returns ``{("in"|"out", name): tensor}``."""
    modules = dict(model.named_modules())
    want = [("in", n) for n in inputs] + [("out", n) for n in outputs]
    got, handles = {}, []

    def store(key, t):
        got[key] = t
        if len(got) == len(want):
            raise _Captured

    for n in inputs:
        handles.append(modules[n].register_forward_pre_hook(lambda m, a, _k=("in", n): store(_k, a[0])))
    for n in outputs:
        handles.append(modules[n].register_forward_hook(lambda m, a, out, _k=("out", n): store(_k, out)))
    try:
        model(x)
    except _Captured:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [k for k in want if k not in got]
    if missing:
        raise RuntimeError(f"the forward pass never reached {missing}")
    return got


def draw_positions(batch: int, per_image: int, total: int, generator: torch.Generator) -> torch.Tensor:
    """``[batch, per_image]`` distinct random integers in ``[0, total)`` per row (without replacement)."""
    if per_image > total:
        raise ValueError(f"cannot draw {per_image} distinct positions out of {total}")
    return torch.rand(batch, total, generator=generator).topk(per_image, dim=1).indices


def patches(x: torch.Tensor, module: nn.Module, pos: torch.Tensor) -> torch.Tensor:
    """The receptive fields of ``module`` at output positions ``pos [B, L]`` (row-major in the
    output map): ``[B, L, C, kh*kw]``, zero padding included. A linear layer: ``[B, 1, C, 1]``."""
    if isinstance(module, nn.Linear):
        return x.flatten(1)[:, None, :, None].expand(-1, pos.shape[1], -1, -1)
    kh, kw = module.kernel_size
    sh, sw = module.stride
    ph, pw = module.padding
    dh, dw = module.dilation
    w_out = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = F.pad(x, (pw, pw, ph, ph))
    p, q = pos // w_out, pos % w_out                                            # B, L
    rows = (p * sh)[..., None] + dh * torch.arange(kh, device=x.device)          # B, L, kh
    cols = (q * sw)[..., None] + dw * torch.arange(kw, device=x.device)          # B, L, kw
    b = torch.arange(x.shape[0], device=x.device)[:, None, None, None]
    out = xp[b, :, rows[..., :, None], cols[..., None, :]]                       # B, L, kh, kw, C
    return out.flatten(2, 3).transpose(2, 3)                                    # B, L, C, kh*kw


def at_positions(y: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Values of a feature map ``y [B, n, H, W]`` (or ``[B, n]``) at ``pos [B, L]``: ``[B, L, n]``."""
    if y.dim() == 2:
        return y[:, None, :].expand(-1, pos.shape[1], -1)
    flat = y.flatten(2)                                                          # B, n, H*W
    return flat.gather(2, pos[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)


# ----------------------------------------------------------------------------- least squares

def solve_normal_equations(gram: torch.Tensor, rhs: torch.Tensor, ridge: float = 1e-7) -> torch.Tensor:
    """``argmin_w ||X w - y||^2`` from ``gram = X^T X`` and ``rhs = X^T y`` (``rhs`` may hold several
    right-hand sides as columns), in float64 by Cholesky. Each diagonal entry is raised by ``ridge``
    times itself (scale-free: columns may differ in scale by decades) and all by 1e-12 of their mean,
    so that a dead input (an all-zero column, e.g. a channel ReLU never lets through) gets weight 0
    instead of making the system singular; where rounding still leaves the matrix indefinite (fewer
    samples than unknowns), the ridge is raised tenfold until Cholesky succeeds."""
    g = gram.double()
    d = g.diagonal().clone()
    r = rhs.double() if rhs.dim() == 2 else rhs.double()[:, None]
    floor = 1e-12 * float(d.mean().clamp_min(1e-30))
    for _ in range(6):
        a = g.clone()
        a.diagonal().add_(ridge * d + floor)
        chol, info = torch.linalg.cholesky_ex(a)
        if int(info) == 0:
            sol = torch.cholesky_solve(r, chol)
            break
        ridge, floor = ridge * 10, floor * 10
    else:  # give up on Cholesky: a least-norm solution
        sol = torch.linalg.lstsq(g, r, driver="gelsd" if g.device.type == "cpu" else None).solution
    return (sol if rhs.dim() == 2 else sol[:, 0]).to(gram.dtype)
