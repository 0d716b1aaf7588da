"""Weight-level magnitude pruning (Han et al., NeurIPS 2015, as in Liu et al. 2019): the declaration.
The algorithm is ``common/pruning/magnitude.py``."""

from common.cli import fraction
from common.masks import sparse_kaiming_init_
from common.methods.base import Method, Pruned, Pruning, Retraining, Table
from common.pruning.magnitude import magnitude_prune


def prune_flags(p):
    p.add_argument("--percent", type=fraction, required=True,
                   help="fraction of the conv weights to remove, in [0, 1) (the paper: 0.3 ... 0.95)")
    p.add_argument("--layerwise", action="store_true", help="prune every layer by --percent instead of globally")
    p.add_argument("--include-linear", action="store_true", help="also prune linear weights")


def prune(args, model, ckpt, data):
    kinds = ("conv", "linear") if args.include_linear else ("conv",)
    mask, report = magnitude_prune(model, args.percent, kinds, "layer" if args.layerwise else "global",
                                   mask=ckpt.get("mask"))
    if report["emptied"]:
        print(f"warning: every weight of {', '.join(report['emptied'])} was pruned")
    return Pruned(model, report, mask)


def reinit(args, model, mask):
    """He init for the surviving connections, as the original's Scratch-E/B (--dense-init: the arch's own)."""
    if not args.dense_init:
        sparse_kaiming_init_(model, mask)


# Scratch-E/B of a masked network: He init for the surviving connections (shared by every mask method)
SPARSE_SCRATCH = Retraining(reinit=reinit, flags=lambda p: p.add_argument(
    "--dense-init", action="store_true",
    help="keep the arch's initialisation instead of rescaling it for the surviving weights"))


def table(t):
    """Every --percents ratio of every model (one global threshold over the conv weights; default 0.3 and
    0.8 on CIFAR, the original's 0.3 and 0.6 on ImageNet)."""
    for seed in t.seeds:
        for arch in t.archs:
            base = t.train(arch, seed)
            for p in (t.opts.percents or ("0.3 0.6" if t.tree == "imagenet" else "0.3 0.8")).split():
                t.retrain(t.prune(base, f"p{float(p):g}", ["--percent", p]))


METHOD = Method(
    name="weight-level", title="Learning both Weights and Connections (Han et al., NeurIPS 2015)",
    pruning=Pruning(run=prune, flags=prune_flags,
                    variant=lambda args, ckpt: (f"p{args.percent:g}" + ("-layer" if args.layerwise else "")
                                                + ("-fc" if args.include_linear else ""))),
    scratch=SPARSE_SCRATCH,
    table=Table(table, archs={"cifar": ["vgg19", "preresnet110", "densenet_bc100"],
                              "imagenet": ["vgg16_bn", "resnet50"]},
                epochs={"cifar": 160, "imagenet": 90}, ft_epochs={"cifar": 40, "imagenet": 10},
                report={"columns": ["sparsity"]},
                flags=lambda p: p.add_argument("--percents", default="",
                                               help="prune ratios (default 0.3 0.8; ImageNet 0.3 0.6)")),
)
