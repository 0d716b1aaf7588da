"""The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019), late rewinding (Frankle et al.
2019/2020), and the comparison of Liu et al. (2019, Sec. 6) against random re-initialisation.

Iterative magnitude pruning with reset ("IMP with rewinding"):
  1. initialise ``theta_0``; train; call the weights after ``k`` iterations ``theta_k``
     (``k = 0``: the original initialisation);
  2. remove a fraction ``p`` (20 %) of the *remaining* weights by global magnitude;
  3. **winning ticket**: reset the survivors to ``theta_k`` (mask kept) and train again;
     **random re-init**: the same mask on a fresh random initialisation;
  4. repeat from 2 on the trained ticket for ``N`` rounds: sparsity after round r is
     ``1 - (1 - p)^r``.
Liu et al. run it at lr 0.1 and 0.01: with the larger (standard) learning rate the ticket's
initialisation brings no gain over a random one. The structured variant prunes filters
one-shot by L1 norm (Li et al. 2017, ``common.pruning.l1_norm``) and expresses the result as a
mask (:func:`l1_filter_mask`) on the full network.

:class:`RewindPoints` records ``theta_k`` during the dense run; :func:`reset_to` builds a
ticket; :func:`next_round_mask` is step 2.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from common.checkpoint import save_checkpoint
from common.engine import Hook
from common.errors import UserError
from common.pruning.criteria import filter_l1
from common.pruning.l1_norm import plan_keep_counts
from common.pruning.selection import top_k
from common.pruning.weight_level import prune_fraction_of_remaining
from common.masks import apply_mask_, prunable_weights


def rewind_file(run_dir, k: int) -> Path:
    """Where the dense run stores ``theta_k``."""
    return Path(run_dir) / f"theta_{k}.pt"


def load_rewind(run_dir, k: int) -> dict:
    """The state dict ``theta_k`` recorded by the dense run in ``run_dir``."""
    path = rewind_file(run_dir, k)
    if not path.is_file():
        have = sorted(int(p.stem.split("_", 1)[1]) for p in Path(run_dir).glob("theta_*.pt"))
        raise UserError(f"the dense run {run_dir} recorded no theta_{k} (it has iterations {have}); "
                        f"train a new dense run that records --rewind-iters {k}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as e:
        raise UserError(f"cannot read {path}: {str(e).splitlines()[0][:160] if str(e) else type(e).__name__}") from None


class RewindPoints(Hook):
    """Save the model state after ``k`` training iterations, for every ``k`` in ``iters``
    (``k = 0``: before the first step), to ``<run dir>/theta_<k>.pt``.

    A state is captured in memory at its iteration and written at the end of that epoch,
    before the epoch's checkpoint; a resumed run replays the epoch and captures it again.
    """

    def __init__(self, iters):
        self.iters = sorted(set(int(k) for k in iters))
        self.pending = {}

    def _capture(self, trainer, k):
        self.pending[k] = {n: v.detach().cpu().clone() for n, v in trainer.model.state_dict().items()}

    def on_train_start(self, trainer):
        total = trainer.config.epochs * len(trainer.train_loader)
        late = [k for k in self.iters if k > total]
        if late:
            raise UserError(f"rewind point {late[0]} is beyond the run's length ({total} iterations)")
        if trainer.step == 0 and 0 in self.iters:
            self._capture(trainer, 0)

    def after_step(self, trainer):
        done = trainer.step + 1          # iterations completed, this one included
        if done in self.iters:
            self._capture(trainer, done)

    def on_epoch_end(self, trainer, epoch):
        for k, state in sorted(self.pending.items()):
            save_checkpoint({"iteration": k, "arch": trainer.model.arch, "cfg": list(trainer.model.cfg),
                             "state_dict": state}, rewind_file(trainer.run_dir, k))
        self.pending.clear()


def next_round_mask(model: nn.Module, fraction: float, mask: dict | None = None, kinds=("conv",)) -> dict:
    """Step 2: remove ``fraction`` of the remaining weights of the ``kinds`` layers by one global
    magnitude threshold (exact count, ties by position); earlier-pruned weights stay pruned."""
    return prune_fraction_of_remaining(prunable_weights(model, kinds), fraction, mask)


@torch.no_grad()
def reset_to(model: nn.Module, state: dict, mask: dict) -> nn.Module:
    """The winning ticket: every tensor (weights, BN, buffers) back to ``state`` (``theta_k``), the
    pruned entries zeroed."""
    model.load_state_dict(state)
    return apply_mask_(model, mask)


@torch.no_grad()
def l1_filter_mask(model: nn.Module, variant: str | None = None, ratio: float | None = None) -> dict:
    """One-shot structured L1-norm pruning (Li et al. 2017) as a mask on the full network.

    For every pruned channel group the mask removes the dropped filters, their BN scale and shift,
    and the consumers' input weights for those channels -- so the masked network computes exactly
    what the physically pruned one (``surgery.prune_channels``) computes, and the non-zero FLOPs
    count matches it. (The original code zeroed only the filters, so a dropped channel still
    passed ReLU(BN beta) on.)"""
    counts = plan_keep_counts(model, variant, ratio)
    modules = dict(model.named_modules())
    groups = {g.name: g for g in model.channel_groups()}
    params = dict(model.named_parameters())
    mask = {}

    def get(name):
        return mask.setdefault(name, torch.ones_like(params[name], dtype=torch.bool, device="cpu"))

    for name, k in counts.items():
        g = groups[name]
        drop = torch.ones(g.size, dtype=torch.bool)
        drop[top_k(filter_l1(modules[g.producer].weight).cpu(), k)] = False
        get(f"{g.producer}.weight")[drop] = False
        if getattr(modules[g.producer], "bias", None) is not None:
            get(f"{g.producer}.bias")[drop] = False
        if g.bn is not None:
            get(f"{g.bn}.weight")[drop] = False
            get(f"{g.bn}.bias")[drop] = False
        for c in g.consumers:
            get(f"{c}.weight")[:, drop] = False
    return mask


def reinit_seed(seed: int, round_: int) -> int:
    """Seed of the random re-initialisation of round ``round_``: never the dense run's ``seed``,
    so the control is not the ticket's own ``theta_0``."""
    return 1_000_003 * (seed + 1) + round_
