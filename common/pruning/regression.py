"""Channel pruning by LASSO regression and least-squares reconstruction (He, Zhang, Sun, ICCV 2017).

For one consumer layer (the conv or linear reading the channels being pruned: ``c`` input
channels, ``n`` filters, kernel ``k = kh*kw``) and ``N`` sampled output positions, with
``X_i [N, k]`` the input patches of channel i, ``W_i [n, k]`` its filter slices and ``Y [N, n]``
the outputs to keep, Eq. 1 of the paper is::

    min_{beta, W}  1/(2N) || Y - sum_i beta_i X_i W_i^T ||_F^2   s.t.  ||beta||_0 <= c'

solved in two steps (Sec. 3.1):

  * **channel selection** (Eq. 3, W fixed): with ``Z_i = X_i W_i^T`` flattened to a column,
    the LASSO ``min_beta 1/(2m) ||y - Z beta||^2 + alpha ||beta||_1`` (m = rows of Z). The
    penalty is raised until ``c'`` coefficients survive: bisection on ``log alpha`` between
    0 survivors (``alpha_max = ||Z^T y||_inf / m``) and all of them, the kept set being the
    ``c'`` largest ``|beta|`` at the largest penalty leaving at least ``c'`` (the original
    code bisects until the count lies in ``[c', 1.1 c']``). Solved on a random subset of rows
    (the code's 400) by FISTA on the Gram matrix ``Z^T Z``, warm-started along the bisection.
  * **reconstruction** (Eq. 4, beta fixed): least squares of ``Y`` on the kept patches,
    ``W' = argmin ||Y - X_K W'^T||^2``, with an intercept (folded into the following BatchNorm's
    running mean, or the layer's bias) as the code refits the bias. Ours adds a ridge
    ``lambda ||W' - W_K||^2`` toward the layer's own weights, lambda picked on held-out sample
    images (0 = the paper's least squares, chosen where samples are plentiful): CIFAR's 2x2 and
    4x4 maps give few positions per image, and plain least squares then fits the samples but
    not unseen images (``reconstruct``).

Whole model (Sec. 3.2): layers are pruned in sequence; the inputs ``X`` come from the network
*as pruned so far* and the targets ``Y`` from the *original* network, so the error that
accumulates upstream is corrected at every layer. Widths (Sec. 4.1): for VGG every conv
outside the last stage loses channels (VGG-16: conv1_1 ... conv4_3, conv5_x kept), the
deepest pruned stage keeping ``deep_ratio`` (1.5) times the fraction the others keep, the
fraction set so that the whole network needs ``1/speedup`` of its FLOPs.

Residual networks (Sec. 3.3): only the inner channels of a block are pruned (its output width
is the shortcut's). The last conv of the branch is reconstructed towards
``Y_branch + Y_shortcut - Y'_shortcut``: what the pruned block must add so that branch plus
shortcut of the pruned network matches the original sum. Where the branch ends in BN (the
model's ``ResidualBranch.end``), the target, in the conv's output space, is
``Y + (S(x) - S(x')) / a`` with S the block's shortcut, x / x' the block inputs of the original /
pruned network and ``a = gamma / sqrt(var + eps)`` the BN scale (``a = 1`` where the conv ends
the branch). The paper's channel sampler in front of a bottleneck's first conv is not needed:
these CIFAR blocks never change their input width.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import torch
import torch.nn as nn
from tqdm import tqdm

from common.errors import UserError
from common.flops import layer_flops
from common.models.protocol import require_protocol
from common.pruning.layerwise import (as_matrix, at_positions, draw_positions, named_groups, paper_groups, patches,
                                      run_until, set_from_matrix, solve_normal_equations, trace_layers)
from common.pruning.selection import top_k
from common.pruning.surgery import prune_channels

DEFAULT_LOCATIONS = 10    # sampled positions per image, as the paper
LASSO_ROWS = 400          # sample rows the LASSO is fitted on, as the original code


# ----------------------------------------------------------------------------- step 1: LASSO

def lasso(gram: torch.Tensor, rhs: torch.Tensor, alpha: float, beta=None, max_iter: int = 5000,
          tol: float = 1e-6) -> torch.Tensor:
    """``argmin_beta 1/2 beta^T G beta - rhs^T beta + alpha ||beta||_1`` (the LASSO with ``G = Z^T Z / m``,
    ``rhs = Z^T y / m``) by FISTA with adaptive restart, started from ``beta`` (warm start) or 0.

    Solved in the variables ``gamma_i = d_i beta_i``, ``d_i = sqrt(G_ii)`` (unit-diagonal Gram, penalty
    ``alpha / d_i``): the same problem, far better conditioned, as channel contributions differ in
    scale by orders of magnitude. Step ``1 / L`` with ``L`` from power iteration (x 1.1)."""
    d = gram.diagonal().clamp_min(0).sqrt()
    live = d > 0                                              # a dead channel (Z_i = 0) stays at 0
    d = torch.where(live, d, torch.ones_like(d))
    g = gram / (d[:, None] * d[None, :])
    r = rhs / d
    thr = torch.where(live, alpha / d, torch.full_like(d, float("inf")))
    v = torch.ones_like(r)
    for _ in range(100):
        v = g @ v
        v = v / v.norm().clamp_min(1e-30)
    step = 1.0 / (1.1 * float(v @ g @ v) + 1e-30)
    x = torch.zeros_like(r) if beta is None else beta * d
    z, t = x.clone(), 1.0
    for _ in range(max_iter):
        u = z - step * (g @ z - r)
        x_new = u.sign() * (u.abs() - step * thr).clamp_min(0)
        t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        delta = x_new - x
        z = x_new + ((t - 1) / t_new) * delta
        if float(delta @ (z - x_new)) > 0:     # momentum points uphill: restart (O'Donoghue & Candes 2015)
            z, t_new = x_new.clone(), 1.0
        x, t = x_new, t_new
        if float(delta.abs().max()) <= tol * max(1e-12, float(x.abs().max())):
            break
    return x / d


def select_channels(gram: torch.Tensor, rhs: torch.Tensor, keep: int, steps: int = 40):
    """Raise the LASSO penalty until ``keep`` coefficients survive (bisection on ``log alpha``).

    Returns ``(kept indices sorted, alpha, beta)``: the ``keep`` largest ``|beta|`` at the largest
    penalty tried that leaves at least ``keep`` non-zero coefficients."""
    c = rhs.numel()
    alpha_max = float(rhs.abs().max())
    if keep >= c or alpha_max == 0.0:
        beta = torch.ones_like(rhs)
        return torch.arange(min(keep, c), device=rhs.device), 0.0, beta
    lo, hi = alpha_max * 1e-8, alpha_max               # nnz(lo) >= keep (checked below), nnz(hi) = 0
    best_alpha = lo
    best = beta = lasso(gram, rhs, lo)
    if int((best != 0).sum()) > keep:
        for _ in range(steps):
            mid = math.sqrt(lo * hi)
            beta = lasso(gram, rhs, mid, beta)
            nnz = int((beta != 0).sum())
            if nnz >= keep:
                lo, best, best_alpha = mid, beta, mid
                if nnz == keep:
                    break
            else:
                hi = mid
            if hi / lo < 1 + 1e-6:
                break
    return top_k(best.abs(), keep), best_alpha, best


def lasso_problem(x_patches: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, chunk: int = 32):
    """Gram ``Z^T Z / m`` and ``Z^T y / m`` of Eq. 3, ``Z[(s, o), i] = <X[s, i], W[o, i]>``, accumulated
    over chunks of sample rows (``x_patches [N, c, k]``, ``weight [n, c, k]``, ``target [N, n]``)."""
    c = weight.shape[1]
    gram = torch.zeros(c, c, dtype=torch.float64, device=weight.device)
    rhs = torch.zeros(c, dtype=torch.float64, device=weight.device)
    for s in range(0, x_patches.shape[0], chunk):
        z = torch.einsum("sck,ock->soc", x_patches[s:s + chunk], weight).flatten(0, 1)   # (s*n, c)
        gram += (z.T @ z).double()
        rhs += (z.T @ target[s:s + chunk].flatten()).double()
    m = x_patches.shape[0] * weight.shape[0]
    return gram / m, rhs / m


# ----------------------------------------------------------------------------- step 2: least squares

RIDGE_GRID = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)   # x the mean diagonal of X^T X


def reconstruct(x_patches: torch.Tensor, target: torch.Tensor, kept: torch.Tensor, intercept: bool,
                prior: torch.Tensor, ridge="auto", holdout: float = 0.2):
    """Eq. 4: ``W' [n, c', k]`` (and a bias ``[n]`` or None) minimising
    ``||Y - X_K W'^T - b||^2 + lambda ||W' - prior||^2``, ``prior`` = the layer's own kept weights.

    ``ridge=0`` is the paper's plain least squares. With few samples per unknown (CIFAR's 2x2 and
    4x4 maps give few positions per image) plain least squares fits the sampled rows better and
    unseen images worse than the original weights, so by default (``"auto"``) lambda is chosen from
    ``RIDGE_GRID`` by the error on the last ``holdout`` of the rows (whole images, never fitted),
    then the model is refitted on all rows. Returns ``(w, bias, lambda, held-out errors)`` where
    the last maps ``"plain"`` / ``"chosen"`` / ``"prior"`` to relative held-out errors (auto only)."""
    m, _, k = x_patches.shape
    design = x_patches[:, kept].reshape(m, -1)
    w0 = prior.detach().reshape(prior.shape[0], -1).T.to(design)                         # D x n
    if intercept:
        design = torch.cat([design, torch.ones(m, 1, dtype=design.dtype, device=design.device)], 1)
        w0 = torch.cat([w0, torch.zeros(1, w0.shape[1], dtype=w0.dtype, device=w0.device)])
    penalised = torch.ones(design.shape[1], dtype=torch.float64, device=design.device)
    if intercept:
        penalised[-1] = 0.0
    gram, rhs = design.T @ design, design.T @ target
    scale = float(gram.diagonal()[:w0.shape[0] - intercept].double().mean().clamp_min(1e-30))

    w0_64 = w0.double()

    def solve(g, r, lam):
        pen = (lam * scale) * penalised
        g = g.double().clone()
        g.diagonal().add_(pen)
        return solve_normal_equations(g, r.double() + pen[:, None] * w0_64)

    heldout = {}
    if ridge == "auto":
        split = m - int(round(holdout * m))
        dv, yv = design[split:], target[split:]
        g_fit, r_fit = gram - dv.T @ dv, rhs - dv.T @ yv
        denom = float(yv.square().sum().clamp_min(1e-30))
        errors = {lam: float((yv - dv @ solve(g_fit, r_fit, lam).to(dv)).square().sum()) / denom
                  for lam in RIDGE_GRID}
        ridge = min(errors, key=errors.get)
        heldout = {"plain": errors[0.0], "chosen": errors[ridge],
                   "prior": float((yv - dv @ w0).square().sum()) / denom}
    sol = solve(gram, rhs, float(ridge)).to(design)
    bias = sol[-1] if intercept else None
    w = (sol[:-1] if intercept else sol).T.reshape(target.shape[1], kept.numel(), k)
    return w, bias, float(ridge), heldout


def relative_error(x_patches, target, weight, bias=None) -> float:
    """``||Y - sum_i X_i W_i^T - b||^2 / ||Y||^2`` over the samples."""
    pred = torch.einsum("sck,nck->sn", x_patches, weight)
    if bias is not None:
        pred = pred + bias
    return float((target - pred).square().sum() / target.square().sum().clamp_min(1e-30))


# ----------------------------------------------------------------------------- widths

def plan_layers(model: nn.Module, layers="paper") -> tuple[list, list]:
    """The groups pruned, in order, and which of them are *deep* (keep ``deep_ratio`` x more):
    ``"paper"`` (see the module docstring), ``"all"`` or a list of group names (none deep)."""
    require_protocol(model, "channel pruning by regression")
    if not isinstance(layers, str):
        groups = named_groups(model, layers)
        return groups, [False] * len(groups)
    if model.residual_branches():              # the branches' inner channels, uniformly
        groups = model.channel_groups() if layers == "all" else paper_groups(model)
        return groups, [False] * len(groups)
    groups = model.channel_groups()            # a chain: all but the last stage, the one before it deep
    last = max(g.stage for g in groups)
    chosen = [g for g in groups if layers == "all" or g.stage < last]
    return chosen, [g.stage >= last - 1 for g in chosen]


def plan_widths(model: nn.Module, speedup: float, input_size, layers="paper", deep_ratio: float = 1.5) -> dict:
    """Kept channels per group so that FLOPs(pruned) <= FLOPs(model) / speedup, with the largest
    such shallow fraction f (deep groups keep ``deep_ratio * f``). A layer's MACs scale with the
    kept fraction of the group it produces times that of the group it reads."""
    if not speedup > 1.0:
        raise UserError(f"the target speed-up must be > 1, got {speedup}")
    groups, deep = plan_layers(model, layers)
    macs = layer_flops(model, input_size)

    def widths(f):
        return {g.name: max(1, min(g.size, round(f * (deep_ratio if d else 1.0) * g.size)))
                for g, d in zip(groups, deep)}

    def flops(f):
        scale, kept_of = dict.fromkeys(macs, 1.0), widths(f)
        for g in groups:
            kept = kept_of[g.name] / g.size
            for name in (g.producer, *g.consumers):
                if name is not None:        # a sampler (selection) has no producer: only its consumer shrinks
                    scale[name] *= kept
        return sum(m * scale[name] for name, m in macs.items())

    target = flops(1.0) / speedup
    if flops(0.0) > target:
        raise UserError(f"a {speedup:g}x speed-up is out of reach pruning these layers of {model.arch} "
                        f"(at most {flops(1.0) / flops(0.0):.2f}x)")
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if flops(mid) <= target else (lo, mid)
    return widths(lo)


# ----------------------------------------------------------------------------- the whole model

def check_locations(model: nn.Module, widths: dict, locations, input_size) -> tuple[dict, dict]:
    """The consumer of each group in ``widths`` (network order) and ``trace_layers`` of them; more
    ``locations`` per image than a consumer's output map has positions is an error."""
    groups = {g.name: g for g in model.channel_groups()}
    consumers = {name: groups[name].consumers[0] for name in groups if name in widths}
    shapes = trace_layers(model, list(consumers.values()), input_size)
    for name in consumers.values():
        positions = shapes[name]["positions"]
        if locations is not None and locations > positions:
            h, w = shapes[name]["hw"]
            raise UserError(f"--locations {locations} is more than the {positions} output positions ({h}x{w}) "
                            f"per image of layer {name}")
    return consumers, shapes


def _end_scale(modules: dict, branch) -> torch.Tensor | None:
    """Per-channel factor from the last conv's output to the branch's end: the BN scale
    ``gamma / sqrt(var + eps)`` when a BN ends the branch, None when the conv itself does."""
    if branch.end == branch.last_conv:
        return None
    bn = modules[branch.end]
    return bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)


@torch.no_grad()
def regression_prune(model: nn.Module, batches, *, speedup=2.0, widths=None, layers="paper", deep_ratio=1.5,
                     locations=None, lasso_rows=LASSO_ROWS, ridge="auto", seed=0,
                     log=tqdm.write) -> tuple[nn.Module, list]:
    """Prune ``model`` layer by layer (LASSO selection + least squares). Returns ``(pruned, report)``.

    batches:   list of normalised input batches (the sampled training images)
    widths:    ``{group: kept channels}``; default ``plan_widths(model, speedup, ...)``
    locations: sampled output positions per image; None = 10 (or all, where a layer has fewer)
    ridge:     "auto" (penalty toward the original weights picked on held-out images) or a number (0 = plain
               least squares, the paper); see ``reconstruct``
    """
    original = model.eval()                      # left as it is: the targets come from it
    model = copy.deepcopy(model)
    input_size = tuple(batches[0].shape[1:])
    if widths is None:
        widths = plan_widths(model, speedup, input_size, layers, deep_ratio)
    consumers, shapes = check_locations(model, widths, locations, input_size)
    names = list(consumers)
    modules = dict(original.named_modules())
    ending = {b.last_conv: b for b in original.residual_branches()}
    branch = {name: ending[consumers[name]] for name in names if consumers[name] in ending}

    # positions per layer and image, drawn once; targets from one pass of the original network
    generator = torch.Generator().manual_seed(seed)
    per_image = {n: locations or min(DEFAULT_LOCATIONS, shapes[consumers[n]]["positions"]) for n in names}
    pos = {n: [draw_positions(x.shape[0], per_image[n], shapes[consumers[n]]["positions"], generator)
               .to(x.device) for x in batches] for n in names}
    block_name = {n: b.block for n, b in branch.items()}
    shortcut = {n: modules[b.block].shortcut for n, b in branch.items()}
    targets = {n: [] for n in names}
    shortcut_orig = {n: [] for n in block_name}
    for b, x in enumerate(batches):
        got = run_until(original, x, inputs=list(block_name.values()), outputs=list(consumers.values()))
        for n in names:    # outputs without the layer's own bias, if it has one
            y = at_positions(got[("out", consumers[n])], pos[n][b]).flatten(0, 1).float()
            bias = getattr(modules[consumers[n]], "bias", None)
            targets[n].append(y if bias is None else y - bias.float())
            if n in block_name:
                s = shortcut[n](got[("in", block_name[n])])
                shortcut_orig[n].append(at_positions(s, pos[n][b]).flatten(0, 1).float())

    report = []
    for name in tqdm(names, desc="regression", leave=False, dynamic_ncols=True, disable=not sys.stderr.isatty()):
        t0 = time.perf_counter()
        consumer = consumers[name]
        mod = dict(model.named_modules())[consumer]
        weight = as_matrix(mod).float()
        wanted = [block_name[name]] if name in block_name else []
        x_list, y = [], torch.cat(targets.pop(name))
        correction = []
        for b, x in enumerate(batches):
            got = run_until(model, x, inputs=wanted + [consumer])
            x_list.append(patches(got[("in", consumer)].float(), mod, pos[name][b]).flatten(0, 1))
            if name in block_name:
                s = shortcut[name](got[("in", block_name[name])])
                correction.append(at_positions(s, pos[name][b]).flatten(0, 1).float())
        xs = torch.cat(x_list)
        if name in block_name:   # Y_branch + S(x) - S(x'), divided by the BN scale (0 where gamma = 0)
            diff = torch.cat(shortcut_orig.pop(name)) - torch.cat(correction)
            a = _end_scale(modules, branch[name])
            if a is None:
                y = y + diff
            else:
                a = a.float()
                y = y + torch.where(a.abs() > 1e-12, diff / a.where(a.abs() > 1e-12, torch.ones_like(a)),
                                    torch.zeros_like(diff))
        keep = widths[name]
        rows = torch.randperm(xs.shape[0], generator=generator)[:min(lasso_rows, xs.shape[0])].to(xs.device)
        gram, rhs = lasso_problem(xs[rows], weight, y[rows])
        kept, alpha, _ = select_channels(gram, rhs, keep)
        kept = kept.to(xs.device)
        bn = shapes[consumer]["bn"]
        intercept = getattr(mod, "bias", None) is not None or bn is not None
        w_new, bias, lam, heldout = reconstruct(xs, y, kept, intercept, weight[:, kept], ridge)
        row = {"layer": name, "consumer": consumer, "kept": keep, "of": weight.shape[1], "samples": xs.shape[0],
               "alpha": alpha, "residual": name in block_name, "ridge": lam,
               "error_unpruned": relative_error(xs, y, weight),
               "error_before_ls": relative_error(xs[:, kept], y, weight[:, kept]),
               "error_after_ls": relative_error(xs[:, kept], y, w_new, bias),
               **{f"heldout_error_{k}": v for k, v in heldout.items()}}
        set_from_matrix(mod, kept, w_new)
        if bias is not None:                     # the intercept: into the layer's bias, or the BN after it
            if getattr(mod, "bias", None) is not None:
                mod.bias.add_(bias.to(mod.bias))
            else:
                dict(model.named_modules())[bn].running_mean.sub_(bias.to(mod.weight))
        model = prune_channels(model, {name: kept}).to(mod.weight.device).eval()
        row["seconds"] = round(time.perf_counter() - t0, 3)
        report.append(row)
        held = (f"; held-out {heldout['prior']:.4f} -> {heldout['chosen']:.4f}, plain LS {heldout['plain']:.4f}"
                if heldout else "")
        log(f"{name:>16} -> {consumer:<16} kept {keep:4d}/{row['of']:<4d}  rel. error {row['error_before_ls']:.4f} -> "
            f"{row['error_after_ls']:.4f} after least squares (ridge {lam:g}{held})  {row['seconds']:.1f}s")
    return model, report
