"""Iterative Magnitude Pruning with learning-rate restarting, ALLR and BIMP
(Zimmer, Spiegel, Pokutta, "How I Learned To Stop Worrying And Love Retraining", ICLR 2023).

IMP: from a trained dense model, ``J`` prune-retrain phases reach the goal sparsity ``S``;
each phase removes the fraction ``s = 1 - (1 - S)^(1/J)`` of the *remaining* weights by one
global magnitude threshold over every conv and linear weight (stem and classifier included;
BN and biases never), so after phase ``j`` the sparsity is ``S_j = 1 - (1 - s)^j``. Each phase
retrains ``N_j = T_j * I`` iterations with one of these per-iteration schedules, built from
the learning rates ``eta(t)`` the dense run actually used (``T`` epochs of ``I`` iterations):

  FT    constant ``eta_min`` (the smallest dense lr)                   (Han et al. 2015)
  LRW   replay the last ``N_j`` dense values ``eta(T*I - N_j + k)``    (Renda et al. 2020)
  SLR   the whole dense schedule compressed into the phase              (Le & Hua 2021)
  CLR   cosine from ``eta_max`` to ``eta_min``                          (Le & Hua 2021)
  LLR   linear from ``eta_max`` to 0                                    (Zimmer et al.)
  ALLR  linear from ``eta_init(j)`` to 0, with                          (Zimmer et al.)
        ``eta_init = clip(d_j / sqrt(s) * eta_max, min(T_j / T, 1) * eta_max, eta_max)`` and
        ``d_j = ||theta_before - theta_after|| / ||theta_before||`` over *all* parameters.

SLR, CLR, LLR and ALLR start with a warm-up over ``w_j = floor(0.1 N_j)`` iterations rising
from 0 to the start value as a half cosine, ``eta_init (1 - cos(pi k / w_j)) / 2``. LLR and
ALLR reach exactly 0 on the phase's last iteration (CLR reaches ``eta_min``).

BIMP: a shortened dense run of ``T0`` epochs with lr decaying linearly to 0, then IMP with ALLR
and a total retraining budget ``B = T - T0`` epochs (``floor(B/J)`` per phase, the remainder in
the last), so everything costs one ordinary training run.

GMP (Zhu & Gupta 2017), the pruning-during-training baseline: at the end of epochs
``t = k * D`` (``k = 1..n``, ``n = floor(T/D) - 1``) prune globally to ``S (1 - (1 - t/(n D))^3)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from common.engine import Hook, TrainConfig, make_lr_fn
from common.errors import UserError
from common.pruning.weight_level import prune_fraction_of_remaining, prune_to_sparsity
from common.masks import prunable_weights

SCHEDULES = ("FT", "LRW", "SLR", "CLR", "LLR", "ALLR")
PRUNABLE = ("conv", "linear")


# ----------------------------------------------------------------------------- the IMP loop

def phase_fraction(sparsity: float, phases: int) -> float:
    """``s = 1 - (1 - S)^(1/J)``: the fraction of the remaining weights each phase removes."""
    if not 0.0 <= sparsity < 1.0:
        raise UserError(f"the goal sparsity must lie in [0, 1), got {sparsity}")
    if phases < 1:
        raise UserError(f"the number of phases must be >= 1, got {phases}")
    return 1.0 - (1.0 - sparsity) ** (1.0 / phases)


def phase_epochs(phases: int, epochs: int | None = None, budget: int | None = None) -> list[int]:
    """Retraining epochs of each phase: ``epochs`` each, or a total ``budget`` split as
    ``floor(B/J)`` for phases 1..J-1 and the remainder for phase J."""
    if (epochs is None) == (budget is None):
        raise UserError("give the retraining epochs per phase or a total budget, not both")
    if budget is None:
        return [epochs] * phases
    return [budget // phases] * (phases - 1) + [budget - (phases - 1) * (budget // phases)]


@torch.no_grad()
def prune_phase(model: nn.Module, fraction: float, mask: dict | None, kinds=PRUNABLE):
    """One IMP pruning step: remove ``fraction`` of the remaining ``kinds`` weights by global
    magnitude. Returns ``(new_mask, d)`` with ``d = ||theta_before - theta_after|| / ||theta_before||``
    over all parameters (BN and biases included); the model is not modified."""
    weights = prunable_weights(model, kinds)
    new = prune_fraction_of_remaining(weights, fraction, mask)
    removed = sum(float(w.detach().double().pow(2).masked_fill(new[n].to(w.device), 0).sum())
                  for n, w in weights.items())
    total = sum(float(p.detach().double().pow(2).sum()) for p in model.parameters())
    return new, (math.sqrt(removed / total) if total > 0 else 0.0)


# ----------------------------------------------------------------------------- the dense lr trace

class LRTrace(Hook):
    """Record the learning rate of every iteration of a (dense) run: ``eta(t)``, ``t = 1..T*I``.
    Saved with the run's checkpoints; :func:`dense_trace` reads it back."""

    def __init__(self):
        self.lrs, self.iters_per_epoch = [], None

    def on_train_start(self, trainer):
        self.iters_per_epoch = len(trainer.train_loader)

    def after_step(self, trainer):
        self.lrs.append(trainer.lr)

    def state_dict(self):
        return {"lr_trace": torch.tensor(self.lrs, dtype=torch.float64), "iters_per_epoch": self.iters_per_epoch}

    def load_state_dict(self, state):
        self.lrs, self.iters_per_epoch = state["lr_trace"].tolist(), state["iters_per_epoch"]


class DenseTrace:
    """``eta(t)`` of the dense run with ``T`` epochs of ``I`` iterations and ``T_w`` warm-up epochs."""

    def __init__(self, lrs, iters_per_epoch: int, warmup_epochs: int = 0):
        self.lrs, self.I, self.warmup = [float(v) for v in lrs], int(iters_per_epoch), int(warmup_epochs)
        if not self.lrs or len(self.lrs) % self.I:
            raise UserError(f"the dense learning-rate trace has {len(self.lrs)} values, not a whole number "
                            f"of {self.I}-iteration epochs")
        self.T = len(self.lrs) // self.I
        self.eta_max = max(self.lrs)
        self.eta_min = min(self.lrs[self.warmup * self.I:])


def dense_trace(ckpt: dict, iters_per_epoch: int) -> DenseTrace:
    """The dense run's lr trace: recorded by :class:`LRTrace` (``cifar/imp/main.py``) or, for a
    checkpoint of another method, rebuilt from its ``--epochs/--lr/--schedule``."""
    for state in ckpt.get("hooks") or []:
        if isinstance(state, dict) and "lr_trace" in state:
            return DenseTrace(state["lr_trace"].tolist(), state["iters_per_epoch"])
    args = ckpt.get("args") or {}
    if not all(k in args for k in ("epochs", "lr", "schedule")) or ckpt.get("epoch", -1) + 1 != args["epochs"]:
        raise UserError("the checkpoint holds no learning-rate trace of a finished dense run; "
                        "train it with cifar/imp/main.py")
    lr_fn = make_lr_fn(TrainConfig(epochs=args["epochs"], lr=args["lr"], schedule=args["schedule"]))
    return DenseTrace([lr_fn(t, iters_per_epoch) for t in range(args["epochs"] * iters_per_epoch)], iters_per_epoch)


# ----------------------------------------------------------------------------- retraining schedules

def allr_start(d: float, s: float, eta_max: float, retrain_epochs: int, dense_epochs: int) -> float:
    """``clip(d / sqrt(s) * eta_max, lower=min(T_j / T, 1) * eta_max, upper=eta_max)``."""
    lower = min(retrain_epochs / dense_epochs, 1.0) * eta_max
    ratio = d / math.sqrt(s) if s > 0 else 0.0
    return min(max(ratio * eta_max, lower), eta_max)


def _warmup(eta_init: float, w: int) -> list[float]:
    return [eta_init * (1.0 - math.cos(math.pi * k / w)) / 2.0 for k in range(w)]


def _progress(k: int, length: int) -> float:
    """k / (length - 1): 0 on the first iteration of the main part, 1 on its last."""
    return k / (length - 1) if length > 1 else 1.0


def retrain_lrs(name: str, trace: DenseTrace, n_iters: int, eta_init: float | None = None) -> list[float]:
    """The ``n_iters`` per-iteration learning rates of one retraining phase (module docstring).
    ``eta_init`` is ALLR's start value (:func:`allr_start`)."""
    if name not in SCHEDULES:
        raise UserError(f"unknown retraining schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    N, eta, TI = n_iters, trace.lrs, len(trace.lrs)
    if N <= 0:
        return []
    if name == "FT":
        return [trace.eta_min] * N
    if name == "LRW":   # eta(T*I - N + k), k = 1..N (1-based); longer than the dense run: clamp at eta(1)
        return [eta[max(0, TI - N + i)] for i in range(N)]
    start = eta_init if name == "ALLR" else trace.eta_max
    if start is None:
        raise ValueError("ALLR needs eta_init")
    w = N // 10
    L = N - w
    head = _warmup(start, w)
    if name == "SLR":
        tilde = [trace.eta_max] * (trace.warmup * trace.I) + eta[trace.warmup * trace.I:]
        return head + [tilde[k * TI // L] for k in range(L)]
    if name == "CLR":
        lo = trace.eta_min
        return head + [lo + (start - lo) * (1 + math.cos(math.pi * _progress(k, L))) / 2 for k in range(L)]
    return head + [start * (1.0 - _progress(k, L)) for k in range(L)]        # LLR, ALLR


class PhaseLR:
    """A phase's precomputed schedule as the engine's ``lr_fn(it, iters_per_epoch)``."""

    def __init__(self, lrs):
        self.lrs = list(lrs)

    def __call__(self, it, iters_per_epoch):
        return self.lrs[min(it, len(self.lrs) - 1)]


# ----------------------------------------------------------------------------- GMP

class GMP(Hook):
    """Gradual magnitude pruning during training (Zhu & Gupta 2017, the card of Zimmer et al.):
    at the end of epoch ``t = k*D``, ``k = 1..n``, ``n = floor(T/D) - 1``, prune globally (conv and
    linear weights) to ``S (1 - (1 - t/(n D))^3)``; pruned weights stay pruned and their momentum
    is zeroed (``Trainer.set_mask``)."""

    def __init__(self, sparsity: float, interval: int, epochs: int, kinds=PRUNABLE):
        if not 0.0 <= sparsity < 1.0:
            raise UserError(f"the goal sparsity must lie in [0, 1), got {sparsity}")
        self.S, self.D, self.kinds = sparsity, interval, kinds
        self.n = epochs // interval - 1
        if self.n < 1:
            raise UserError(f"GMP needs at least two pruning intervals: {epochs} epochs with "
                            f"--prune-every {interval} leave {epochs // interval}")

    def target(self, t: int) -> float:
        return self.S * (1.0 - (1.0 - t / (self.n * self.D)) ** 3)

    def on_epoch_end(self, trainer, epoch):
        t = epoch + 1
        if t % self.D == 0 and 1 <= t // self.D <= self.n:
            weights = prunable_weights(trainer.model, self.kinds)
            trainer.set_mask(prune_to_sparsity(weights, self.target(t), trainer.mask))
