"""Network Slimming (Liu, Li, Shen, Huang, Yan, Zhang, ICCV 2017): the declaration.
The algorithm is ``common/pruning/slimming.py``."""

import sys

from common.cli import fraction, non_negative_float
from common.data import dataset_info
from common.errors import UserError
from common.methods.base import Method, Pruned, Pruning, Retraining, Table, Training
from common.pruning.slimming import SparsityHook, paper_lambda, paper_percents, slimming_prune


def sparsity_flag(p, default, what):
    p.add_argument("--sparsity", "--lambda", type=non_negative_float, default=default, metavar="LAMBDA", help=what)


def train_resolve(args):
    if args.sparsity is None:
        args.sparsity = paper_lambda(args.arch, dataset_info(args.dataset).kind)


def hooks(args, model, ckpt=None):
    return [SparsityHook(model, args.sparsity)] if args.sparsity > 0 else []


def prune_flags(p):
    p.add_argument("--percent", type=fraction, default=None,
                   help="fraction of channels to remove, in [0, 1) (default: the paper's for the arch)")
    p.add_argument("--min-keep", type=fraction, default=0.0,
                   help="every layer keeps at least this fraction of its channels (and at least one)")
    p.add_argument("--force", action="store_true", help="prune a checkpoint that was not sparsity-trained")


def prune_resolve(args, ckpt):
    lam = ckpt["args"].get("sparsity")
    if not (ckpt["arm"] == "sparsity" and lam):
        what = (f"{args.checkpoint} was not sparsity-trained ({ckpt['arm']} run, sparsity {lam or 0}): its BN "
                f"scales carry no L1 penalty, so the global threshold is not the paper's")
        if not args.force:
            raise UserError(f"{what}; train it with main.py --sparsity LAMBDA, or pass --force")
        print(f"warning: {what}; pruning anyway (--force)", file=sys.stderr)
    if args.percent is None:
        args.percent = paper_percents(ckpt["arch"], ckpt["dataset"], dataset_info(ckpt["dataset"]).kind)[0]


def prune(args, model, ckpt, data):
    pruned, report = slimming_prune(model, args.percent, args.min_keep)
    if report["floor_hit"]:
        print(f"{len(report['floor_hit'])} layer(s) kept by the floor: {', '.join(report['floor_hit'])}")
    return Pruned(pruned, report)


def table(t):
    """Baseline, sparsity training, then every paper percent (or --percents) of each model."""
    sparsity = ["--sparsity", t.opts.sparsity] if t.opts.sparsity else []
    for seed in t.seeds:
        for arch in t.archs:
            t.train(arch, seed, flags=["--sparsity", "0"])
            sparse = t.train(arch, seed, arm="sparsity", flags=sparsity)
            for p in t.opts.percents.split() or paper_percents(arch, t.dataset, dataset_info(t.dataset).kind):
                t.retrain(t.prune(sparse, f"p{float(p):g}", ["--percent", str(p)]))


def table_flags(p):
    p.add_argument("--percents", default="", help="prune percents (default the paper's: VGG 0.7, 0.5 on CIFAR-100; "
                                                   "PreResNet and DenseNet 0.4 and 0.6)")
    p.add_argument("--sparsity", default="", help="lambda of the sparsity training (default the paper's per model)")


METHOD = Method(
    name="slimming", title="Learning Efficient Convolutional Networks through Network Slimming (Liu et al., ICCV 2017)",
    trainings={"main": Training(
        flags=lambda p: sparsity_flag(p, None, "L1 penalty on BN scales (default: 1e-4 for VGG, 1e-5 for "
                                               "PreResNet/DenseNet); 0 = plain baseline"),
        resolve=train_resolve, hooks=hooks, arm=lambda args: "sparsity" if args.sparsity > 0 else "baseline")},
    pruning=Pruning(run=prune, flags=prune_flags, resolve=prune_resolve,
                    variant=lambda args, ckpt: f"p{args.percent:g}"),
    finetune=Retraining(flags=lambda p: sparsity_flag(p, 0.0, "L1 penalty on BN scales during fine-tuning "
                                                              "(default 0)"), hooks=hooks),
    table=Table(table, archs={"cifar": ["vgg19", "preresnet164", "densenet40"], "imagenet": ["vgg11_bn_slimming"]},
                epochs={"cifar": 160, "imagenet": 90}, ft_epochs={"cifar": 40, "imagenet": 5}, flags=table_flags),
)
