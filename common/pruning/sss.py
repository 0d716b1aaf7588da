"""Sparse Structure Selection (Huang & Wang, ECCV 2018), on residual blocks.

Model (Sec. 3.1): a non-negative scalar lambda_j on the residual branch of every block,
``y = shortcut(x) + lambda_j * F_j(x)``, initialised to 1. Objective (Eq. 2):

    min_(W, lambda)  (1/N) sum_i L(y_i, f(x_i; W, lambda)) + R(W) + gamma * ||lambda||_1

The weights W follow the usual SGD (with weight decay R); lambda follows the Accelerated
Proximal Gradient update (Sec. 3.3, Eq. 7-9, written in the momentum form of the authors'
MXNet optimizer), with the step size eta_t = the current learning rate and momentum mu:

    z_t      = lambda_(t-1) - eta_t * grad_lambda L                (gradient step on the loss)
    z_t      = sign(z_t) * max(|z_t| - eta_t * gamma, 0)            (soft threshold: prox of L1)
    v_t      = mu * v_(t-1) + z_t - lambda_(t-1)
    lambda_t = max(z_t + mu * v_t, 0)                                (momentum, non-negativity)

(:func:`apg_step`). No weight decay on lambda. The soft threshold gives exact zeros; after
training, blocks whose lambda is exactly 0 compute ``y = shortcut(x)`` and are removed
(a downsampling block keeps its shortcut), and the other lambdas are folded into the last
layer of their branch (:func:`remove_blocks`): the shallower network computes exactly what
the trained network computes.

The scales are attached without touching the model's weights: any model listing its
``residual_branches()`` (``common.models.protocol.ResidualBranch``) gets a forward
hook multiplying that module's output by lambda_j -- or its input, the same thing and
cheaper, when it is a bias-free conv (:class:`SparseStructureHook`).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from common.engine import Hook
from common.errors import UserError
from common.models import build_model


# Default penalty for the CIFAR recipe. The authors' ImageNet value is 0.01 (resnet-50-sss-0.01);
# their CIFAR values are not published. On short Fashion-MNIST runs 0.01-0.05 removed no block
# of ResNet-20, 0.1 a third, 0.3 all (cifar/sss/README.md); 0.05 sits in between.
DEFAULT_GAMMA = 0.05


def apg_step(lam: torch.Tensor, grad: torch.Tensor, velocity: torch.Tensor, lr: float, gamma: float,
             momentum: float = 0.9):
    """One accelerated proximal gradient step; returns ``(lambda_t, v_t)`` (see the module docstring)."""
    z = lam - lr * grad
    z = z.sign() * (z.abs() - lr * gamma).clamp_min(0)
    velocity = momentum * velocity + z - lam
    return (z + momentum * velocity).clamp_min(0), velocity


class SparseStructureHook(Hook):
    """lambda_j on every residual branch, trained by :func:`apg_step` after each SGD step."""

    def __init__(self, model: nn.Module, gamma: float, momentum: float = 0.9):
        self.gamma, self.momentum = float(gamma), float(momentum)
        self.branches = model.residual_branches()
        if not self.branches:
            raise UserError(f"{model.arch} has no residual blocks to scale; use a ResNet or PreResNet")
        device = next(model.parameters()).device
        self.lam = torch.ones(len(self.branches), device=device, requires_grad=True)
        self.velocity = torch.zeros(len(self.branches), device=device)
        modules = dict(model.named_modules())
        self.handles = [self._attach(modules, b, j) for j, b in enumerate(self.branches)]

    def _attach(self, modules, branch, j):
        """Scale the branch: by the block itself where it offers ``scale_branch`` (at no cost: folded
        into its last BN's affine), else the last layer's input when it is a bias-free conv or linear
        (the same result, on a narrower tensor -- 4x narrower in a bottleneck), else its output."""
        block, end = modules[branch.block], modules[branch.end]
        if hasattr(block, "scale_branch"):
            block.scale_branch(lambda: self.lam[j])
            return _Unscale(block)
        if isinstance(end, (nn.Conv2d, nn.Linear)) and end.bias is None:
            return end.register_forward_pre_hook(lambda m, inputs: (inputs[0] * self.lam[j],))
        return end.register_forward_hook(lambda m, inputs, output: output * self.lam[j])

    def on_train_start(self, trainer):
        self.lam = self.lam.detach().to(trainer.device).requires_grad_()
        self.velocity = self.velocity.to(trainer.device)

    @torch.no_grad()
    def after_step(self, trainer):
        grad = self.lam.grad if self.lam.grad is not None else torch.zeros_like(self.lam)
        lam, self.velocity = apg_step(self.lam.detach(), grad, self.velocity, trainer.lr, self.gamma,
                                      self.momentum)
        self.lam.copy_(lam)
        self.lam.grad = None

    def remove(self):
        """Detach the forward hooks (the model computes its plain branches again)."""
        for h in self.handles:
            h.remove()

    def state_dict(self) -> dict:
        return {"sss_lambda": self.lam.detach().cpu().clone(), "sss_velocity": self.velocity.cpu().clone(),
                "sss_blocks": [b.block for b in self.branches], "sss_gamma": self.gamma}

    def load_state_dict(self, state: dict):
        if state.get("sss_blocks") != [b.block for b in self.branches]:
            raise UserError("cannot resume: the checkpoint's SSS scales belong to other blocks")
        with torch.no_grad():
            self.lam.copy_(state["sss_lambda"].to(self.lam.device))
        self.velocity = state["sss_velocity"].to(self.velocity.device)

    def metrics(self) -> dict:
        lam = self.lam.detach()
        return {"sss/blocks_zero": int((lam == 0).sum()), "sss/blocks": lam.numel(),
                "sss/mean_lambda": lam.mean().item()}


class _Unscale:
    """The handle of a block scaled through ``scale_branch``."""

    def __init__(self, block):
        self.block = block

    def remove(self):
        self.block.scale_branch(None)


def lambdas_from_checkpoint(ckpt: dict):
    """``(block names, lambda values)`` stored by :class:`SparseStructureHook` in a checkpoint, or None."""
    for state in ckpt.get("hooks") or []:
        if isinstance(state, dict) and "sss_lambda" in state:
            return state["sss_blocks"], state["sss_lambda"]
    return None


@torch.no_grad()
def fold_lambdas_(model: nn.Module, blocks, lam) -> None:
    """Multiply each branch's last layer by its lambda, in place (exact: BN output is affine in
    its weight and bias, a bias-free conv is linear in its weight)."""
    modules = dict(model.named_modules())
    ends = {b.block: b.end for b in model.residual_branches()}
    for b, v in zip(blocks, lam.tolist()):
        m = modules[ends[b]]
        m.weight.mul_(v)
        if getattr(m, "bias", None) is not None:
            m.bias.mul_(v)


def remove_blocks(model: nn.Module, blocks) -> nn.Module:
    """A copy of ``model`` without the residual branches of ``blocks`` (their cfg entries set
    to 0; a downsampling block keeps its shortcut); every other weight copied."""
    branches = {b.block: b.cfg_indices for b in model.residual_branches()}
    unknown = [b for b in blocks if b not in branches]
    if unknown:
        raise UserError(f"{model.arch} has no residual branch named {', '.join(unknown)}")
    cfg = list(model.cfg)
    for b in blocks:
        for i in branches[b]:
            cfg[i] = 0
    def branch_weight(key):  # a tensor of a removed branch (a block's shortcut is not its branch)
        return any(key.startswith(f"{b}.") and not key.startswith(f"{b}.downsample.") for b in blocks)

    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not branch_weight(k)}
    new = build_model(model.arch, model.num_classes, model.in_channels, cfg)
    new.load_state_dict(state, strict=True)
    return new.train(model.training)


def sss_prune(model: nn.Module, blocks, lam):
    """Fold the lambdas into a copy of the plain ``model`` and remove the blocks whose lambda is
    exactly 0; returns ``(shallower model, report)``. The result computes what the
    lambda-scaled network computes."""
    lam = torch.as_tensor(lam).detach().cpu()
    if list(blocks) != [b.block for b in model.residual_branches()]:
        raise UserError("the SSS scales do not match this model's residual blocks")
    work = build_model(model.arch, model.num_classes, model.in_channels, model.cfg)
    work.load_state_dict(model.state_dict())
    fold_lambdas_(work, blocks, lam)
    zero = [b for b, v in zip(blocks, lam.tolist()) if v == 0.0]
    return remove_blocks(work, zero).train(model.training), sss_report(blocks, lam)


def sss_report(blocks, lam) -> dict:
    lam = torch.as_tensor(lam).tolist()
    removed = [b for b, v in zip(blocks, lam) if v == 0.0]
    return {"blocks": len(blocks), "removed": removed, "kept": len(blocks) - len(removed),
            "lambda": {b: round(v, 6) for b, v in zip(blocks, lam)}}
