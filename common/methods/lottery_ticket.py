"""The Lottery Ticket comparison of Liu et al. (2019, Sec. 6) -- winning ticket vs random
re-initialisation (Frankle & Carbin, ICLR 2019): the declaration. The algorithm is
``common/pruning/lottery_ticket.py``; ``main.py`` runs one whole sequence (``common.sequences.lottery_sequence``):
dense run, rounds of pruning, winning ticket and random re-init. ``prune.py``, ``main_finetune.py``
and ``main_scratch.py`` are the single steps, on any trained model of the method."""

from dataclasses import dataclass
from typing import Optional

from common.masks import apply_mask_, layer_report
from common.methods.base import Pruned, register_method
from common.methods.weight_level import MaskMethod
from common.pruning import lottery_ticket
from common.settings import Settings, flag, fraction, non_negative_int, positive_int


@dataclass(frozen=True)
class LotteryPruning(Settings):
    """One round of the comparison's pruning (``prune.py``, and every round of a sequence)."""

    prune: str = flag("magnitude", "magnitude: remove --percent of the remaining conv weights by one global "
                                   "threshold (one round); l1: L1-norm filter pruning (Li et al.) of --variant, as a "
                                   "mask", choices=("magnitude", "l1"))
    percent: float = flag(0.2, "fraction of the remaining weights pruned per round, in [0, 1) (default 0.2)",
                          type=fraction)
    prune_linear: bool = flag(False, "also prune linear weights (open_lth)")
    variant: str = flag("A", "L1-norm configuration (--prune l1)", choices=("A", "B"))


@dataclass(frozen=True)
class LotterySequence(LotteryPruning):
    """A whole sequence (``main.py``): the rounds, the rewind points and the control's initialisation."""

    rounds: int = flag(5, "magnitude pruning rounds (default 5)", type=positive_int)
    rewind_iters: list = flag([0], "reset tickets to theta_K, the weights after K iterations of the dense run, "
                                   "and train them from iteration K on (0 = the original initialisation; several "
                                   "values run several sequences)", type=non_negative_int, nargs="+", metavar="K")
    reinit: Optional[str] = flag(None, "random re-init: He init for the surviving connections (sparse, default for "
                                       "magnitude) or the arch's init times the mask (dense, default for l1)",
                                 choices=("sparse", "dense"))


L1_ARCHS = "vgg16_mlp resnet56 resnet110"


@dataclass(frozen=True)
class LotteryTable(Settings):
    l1_archs: Optional[str] = flag(None, f"models of the L1-norm comparison (default {L1_ARCHS}; ImageNet: none)")
    lrs: str = flag("0.1 0.01", "learning rates (the paper's two)")
    rounds: str = flag("5", "magnitude pruning rounds (default 5)")
    percent: str = flag("0.2", "fraction of the remaining weights pruned per round")
    rewind_iters: str = flag("", "rewind points K (default 0 = the original initialisation; ImageNet 5000, about "
                                 "one epoch: late rewinding)")


@register_method
class LotteryTicket(MaskMethod):
    name = "lottery-ticket"
    title = "The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019), as in Liu et al. Sec. 6"
    training = None                      # main.py is the whole sequence (common.sequences.lottery_sequence)
    prune_settings = LotteryPruning
    table_settings = LotteryTable
    accepts = ("l1-norm", "weight-level", "imp")
    archs = {"cifar": ["vgg16"], "imagenet": ["resnet18"]}
    epochs = {"cifar": 160, "imagenet": 90}
    seeds = 1
    report = {"columns": ["sparsity"]}

    def pruned_variant(self, s, ckpt):
        if s.prune == "l1":
            return f"l1{s.variant}"
        return f"p{s.percent:g}" + ("-fc" if s.prune_linear else "")

    def check(self, s, model, input_size):
        if s.prune == "l1":
            lottery_ticket.l1_filter_mask(model, s.variant)

    def prune(self, s, model, ckpt, data):
        """One round of the comparison's pruning, on a trained (dense or already pruned) model."""
        if s.prune == "magnitude":
            kinds = ("conv", "linear") if s.prune_linear else ("conv",)
            mask = lottery_ticket.next_round_mask(model, s.percent, ckpt.get("mask"), kinds)
        else:
            mask = lottery_ticket.l1_filter_mask(model, s.variant)
        apply_mask_(model, mask)
        return Pruned(model, layer_report(mask), mask)

    def table(self, t):
        """Per seed and lr: iterative magnitude pruning of every model, and one-shot L1-norm pruning (variant A)
        of every --l1-archs model, each a resumable sequence of rounds."""
        rewind = ["--rewind-iters", *(t.opts.rewind_iters or ("5000" if t.tree == "imagenet" else "0")).split()]
        l1_archs = t.opts.l1_archs if t.opts.l1_archs is not None else ("" if t.tree == "imagenet" else L1_ARCHS)
        for seed in t.seeds:
            for lr in t.opts.lrs.split():
                for arch in t.archs:
                    t.sequence(arch, seed, "magnitude", f"lr{float(lr):g}",
                               ["--lr", lr, "--prune", "magnitude", "--rounds", t.opts.rounds, "--percent",
                                t.opts.percent, *rewind])
                for arch in l1_archs.split():
                    t.sequence(arch, seed, "l1", f"lr{float(lr):g}",
                               ["--lr", lr, "--prune", "l1", "--variant", "A", *rewind], cfg=False)
