"""The Lottery Ticket comparison of Liu et al. (2019, Sec. 6) -- winning ticket vs random
re-initialisation (Frankle & Carbin, ICLR 2019): the declaration. The algorithm is
``common/pruning/lottery.py``; ``main.py`` runs one whole sequence (``common.sequences.lottery_sequence``):
dense run, rounds of pruning, winning ticket and random re-init. ``prune.py``, ``main_finetune.py``
and ``main_scratch.py`` are the single steps, on any trained model of the method."""

from common.cli import fraction
from common.masks import apply_mask_, layer_report
from common.methods.base import Method, Pruned, Pruning, Table
from common.methods.weight_level import SPARSE_SCRATCH
from common.pruning import lottery


def prune_flags(p):
    p.add_argument("--prune", choices=("magnitude", "l1"), default="magnitude",
                   help="magnitude: remove --percent of the remaining conv weights by one global threshold (one "
                        "round); l1: L1-norm filter pruning (Li et al.) of --variant, as a mask")
    p.add_argument("--percent", type=fraction, default=0.2, help="fraction of the remaining weights pruned")
    p.add_argument("--prune-linear", action="store_true", help="also prune linear weights (open_lth)")
    p.add_argument("--variant", choices=("A", "B"), default="A", help="L1-norm configuration (--prune l1)")


def prune(args, model, ckpt, data):
    """One round of the comparison's pruning, on a trained (dense or already pruned) model."""
    if args.prune == "magnitude":
        kinds = ("conv", "linear") if args.prune_linear else ("conv",)
        mask = lottery.next_round_mask(model, args.percent, ckpt.get("mask"), kinds)
    else:
        mask = lottery.l1_filter_mask(model, args.variant)
    apply_mask_(model, mask)
    return Pruned(model, layer_report(mask), mask)


def variant(args, ckpt):
    if args.prune == "l1":
        return f"l1{args.variant}"
    return f"p{args.percent:g}" + ("-fc" if args.prune_linear else "")


L1_ARCHS = "vgg16_mlp resnet56 resnet110"


def table(t):
    """Per seed and lr: iterative magnitude pruning of every model, and one-shot L1-norm pruning (variant A)
    of every --l1-archs model, each a resumable sequence of rounds."""
    rewind = ["--rewind-iters", *(t.opts.rewind_iters or ("5000" if t.tree == "imagenet" else "0")).split()]
    l1_archs = t.opts.l1_archs if t.opts.l1_archs is not None else ("" if t.tree == "imagenet" else L1_ARCHS)
    for seed in t.seeds:
        for lr in t.opts.lrs.split():
            for arch in t.archs:
                t.sequence(arch, seed, "magnitude", f"lr{float(lr):g}",
                           ["--lr", lr, "--prune", "magnitude", "--rounds", t.opts.rounds, "--percent", t.opts.percent,
                            *rewind])
            for arch in l1_archs.split():
                t.sequence(arch, seed, "l1", f"lr{float(lr):g}",
                           ["--lr", lr, "--prune", "l1", "--variant", "A", *rewind],
                           cfg=False)


def table_flags(p):
    p.add_argument("--l1-archs", default=None, help=f"models of the L1-norm comparison (default {L1_ARCHS}; "
                                                    f"ImageNet: none)")
    p.add_argument("--lrs", default="0.1 0.01", help="learning rates (the paper's two)")
    p.add_argument("--rounds", default="5", help="magnitude pruning rounds (default 5)")
    p.add_argument("--percent", default="0.2", help="fraction of the remaining weights pruned per round")
    p.add_argument("--rewind-iters", default="", help="rewind points K (default 0 = the original initialisation; "
                                                      "ImageNet 5000, about one epoch: late rewinding)")


METHOD = Method(
    name="lottery-ticket", title="The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019), as in Liu et al. Sec. 6",
    trainings={},
    pruning=Pruning(run=prune, flags=prune_flags, variant=variant, accepts=("l1-norm", "weight-level", "imp"),
                    check=lambda args, model, size: lottery.l1_filter_mask(model, args.variant) if args.prune == "l1"
                    else None),
    scratch=SPARSE_SCRATCH,
    table=Table(table, archs={"cifar": ["vgg16"], "imagenet": ["resnet18"]}, epochs={"cifar": 160, "imagenet": 90},
                flags=table_flags, report={"columns": ["sparsity"]}, seeds=1),
)
