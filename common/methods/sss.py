"""Sparse Structure Selection (Huang & Wang, ECCV 2018): the declaration.
The algorithm is ``common/pruning/sss.py``."""

import sys

from common.cli import non_negative_float
from common.errors import UserError
from common.methods.base import Method, Pruned, Pruning, Table, Training
from common.pruning.sss import (DEFAULT_GAMMA, SparseStructureHook, fold_lambdas_, lambdas_from_checkpoint,
                                remove_blocks, sss_report)


def train_flags(p):
    p.add_argument("--gamma", type=non_negative_float, default=DEFAULT_GAMMA,
                   help=f"L1 penalty on the block scales (default {DEFAULT_GAMMA}); 0 = plain baseline")
    p.add_argument("--lambda-momentum", type=non_negative_float, default=0.9,
                   help="momentum mu of the proximal update of the scales (default 0.9)")


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


def table(t):
    """Baseline, then SSS training at every gamma (default 0.02, 0.05, 0.1: three strengths, as the
    paper's three depths)."""
    for seed in t.seeds:
        for arch in t.archs:
            t.train(arch, seed, flags=["--gamma", "0"])
            for g in (t.opts.gammas or "0.02 0.05 0.1").split():
                trained = t.train(arch, seed, arm="sss", variant=f"g{float(g):g}", flags=["--gamma", g])
                t.retrain(t.prune(trained, f"g{float(g):g}"))


METHOD = Method(
    name="sss", title="Data-Driven Sparse Structure Selection for Deep Neural Networks (Huang & Wang, ECCV 2018)",
    trainings={"main": Training(
        flags=train_flags,
        hooks=lambda args, model: [SparseStructureHook(model, args.gamma, args.lambda_momentum)] if args.gamma > 0
        else [],
        arm=lambda args: "sss" if args.gamma > 0 else "baseline",
        variant=lambda args: f"g{args.gamma:g}" if args.gamma > 0 else None)},
    pruning=Pruning(run=prune, resolve=resolve, prepare=fold_scales,
                    variant=lambda args, ckpt: ckpt["meta"]["variant"]),
    table=Table(table, archs={"cifar": ["resnet56", "preresnet164"]},
                flags=lambda p: p.add_argument("--gammas", default="", help="SSS penalties (default 0.02 0.05 0.1)")),
)
