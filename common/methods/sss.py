"""Sparse Structure Selection (Huang & Wang, ECCV 2018): the declaration.
The algorithm is ``common/pruning/sss.py``."""

import sys

from common.cli import non_negative_float
from common.data import dataset_info
from common.errors import UserError
from common.methods.base import Method, Pruned, Pruning, Table, Training
from common.pruning.sss import (DEFAULT_GAMMA, SparseStructureHook, fold_lambdas_, lambdas_from_checkpoint,
                                remove_blocks, sss_report)


IMAGENET_GAMMA = 0.01      # the authors' (their model resnet-50-sss-0.01)


def train_flags(p):
    p.add_argument("--gamma", type=non_negative_float, default=None,
                   help=f"L1 penalty on the block scales (default {DEFAULT_GAMMA}; ImageNet {IMAGENET_GAMMA}); "
                        f"0 = plain baseline")
    p.add_argument("--lambda-momentum", type=non_negative_float, default=0.9,
                   help="momentum mu of the proximal update of the scales (default 0.9)")


def train_resolve(args):
    if args.gamma is None:
        args.gamma = IMAGENET_GAMMA if dataset_info(args.dataset).kind == "imagenet" else DEFAULT_GAMMA


def resolve(args, ckpt):
    if ckpt["arm"] != "sss" or lambdas_from_checkpoint(ckpt) is None:
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} run without block scales; "
                        f"train with main.py --gamma G first")


def fold_scales(args, model, ckpt):
    """Before the trained network is evaluated: put its block scales into its weights."""
    blocks, lam = lambdas_from_checkpoint(ckpt)
    if blocks != [b.block for b in model.residual_branches()]:
        raise UserError(f"the block scales in {args.checkpoint} do not match its model")
    fold_lambdas_(model, blocks, lam)


def prune(args, model, ckpt, data):
    report = sss_report(*lambdas_from_checkpoint(ckpt))
    if not report["removed"]:
        print("warning: no block has lambda = 0, nothing removed (train with a larger --gamma)", file=sys.stderr)
    print(f"removed {len(report['removed'])} of {report['blocks']} blocks: {', '.join(report['removed']) or '-'}")
    return Pruned(remove_blocks(model, report["removed"]), report)


def _resnet50(stages):
    """ResNet-50 with, per stage, ``(blocks kept, first block kept)`` (the rethinking README's notation):
    the kept blocks are the first of the stage, the downsampling one skipped when it is not kept."""
    cfg = []
    for (kept, first), n, w in zip(stages, (3, 4, 6, 3), (64, 128, 256, 512)):
        keep = set((range(n) if first else range(1, n))[:kept])
        cfg += [x for b in range(n) for x in ((w, w) if b in keep else (0, 0))]
    return cfg


# The pruned ResNet-50s of the SSS paper (ImageNet), as the rethinking repo describes them.
PUBLISHED = {"resnet-41": ("resnet50", _resnet50([(0, False), (4, True), (6, True), (3, True)])),
             "resnet-32": ("resnet50", _resnet50([(1, False), (4, True), (4, True), (1, True)])),
             "resnet-26": ("resnet50", _resnet50([(0, False), (2, False), (5, False), (1, True)]))}


def table(t):
    """Baseline, then SSS training at every gamma (CIFAR default 0.02, 0.05, 0.1: three strengths, as the
    paper's three depths; ImageNet default 0.01, the authors'), and on ImageNet the paper's ResNet-41/32/26."""
    default = str(IMAGENET_GAMMA) if t.tree == "imagenet" else "0.02 0.05 0.1"
    for seed in t.seeds:
        for arch in t.archs:
            t.train(arch, seed, flags=["--gamma", "0"])
            for g in (t.opts.gammas or default).split():
                trained = t.train(arch, seed, arm="sss", variant=f"g{float(g):g}", flags=["--gamma", g])
                t.retrain(t.prune(trained, f"g{float(g):g}"))
            t.published_rows(PUBLISHED, PUBLISHED if arch == "resnet50" else (), seed)


def table_flags(p):
    p.add_argument("--gammas", default="", help="SSS penalties (default 0.02 0.05 0.1; ImageNet 0.01)")
    p.add_argument("--no-published", dest="published", action="store_false",
                   help="ImageNet: leave out the paper's ResNet-41/32/26")


METHOD = Method(
    name="sss", title="Data-Driven Sparse Structure Selection for Deep Neural Networks (Huang & Wang, ECCV 2018)",
    trainings={"main": Training(
        flags=train_flags, resolve=train_resolve,
        hooks=lambda args, model: [SparseStructureHook(model, args.gamma, args.lambda_momentum)] if args.gamma > 0
        else [],
        arm=lambda args: "sss" if args.gamma > 0 else "baseline",
        variant=lambda args: f"g{args.gamma:g}" if args.gamma > 0 else None)},
    pruning=Pruning(run=prune, resolve=resolve, prepare=fold_scales, published=PUBLISHED,
                    variant=lambda args, ckpt: ckpt["meta"]["variant"]),
    table=Table(table, archs={"cifar": ["resnet56", "preresnet164"], "imagenet": ["resnet50"]},
                epochs={"cifar": 160, "imagenet": 100}, ft_epochs={"cifar": 40, "imagenet": 20}, flags=table_flags),
)
