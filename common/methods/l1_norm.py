"""L1-norm filter pruning (Li, Kadav, Durdanovic, Samet, Graf, ICLR 2017): the declaration.
The algorithm is ``common/pruning/l1norm.py``."""

from common.cli import fraction
from common.errors import UserError
from common.methods.base import Method, Pruned, Pruning, Table
from common.pruning.l1norm import l1_prune, plan_keep_counts, variants_for


def prune_flags(p):
    p.add_argument("--variant", choices=("A", "B"), default=None,
                   help="the paper's pruned-A / pruned-B configuration (default A)")
    p.add_argument("--ratio", type=fraction, default=None,
                   help="uniform fraction of filters to remove from every prunable layer, in [0, 1)")


def resolve(args, ckpt):
    if args.variant is not None and args.ratio is not None:
        raise UserError("give --variant or --ratio, not both")
    if args.variant is None and args.ratio is None:
        args.variant = "A"


def prune(args, model, ckpt, data):
    pruned, kept = l1_prune(model, plan_keep_counts(model, args.variant, args.ratio))
    sizes = {g.name: g.size for g in model.channel_groups()}
    return Pruned(pruned, {"layers": {name: {"kept": len(idx), "of": sizes[name]} for name, idx in kept.items()}})


def table(t):
    """Table 1 of Liu et al. (L1-norm rows): every paper variant of every model."""
    for arch in t.archs:
        if not variants_for(arch):
            raise UserError(f"no paper variant of L1-norm pruning for {arch}; choose from vgg16_mlp, resnet56, "
                            f"resnet110, resnet34")
    for seed in t.seeds:
        for arch in t.archs:
            base = t.train(arch, seed)
            for v in t.opts.variants.split() or variants_for(arch):
                t.retrain(t.prune(base, v, ["--variant", v]))


METHOD = Method(
    name="l1-norm", title="Pruning Filters for Efficient ConvNets (Li et al., ICLR 2017)",
    pruning=Pruning(run=prune, flags=prune_flags, resolve=resolve,
                    variant=lambda args, ckpt: args.variant if args.ratio is None else f"r{args.ratio:g}",
                    check=lambda args, model, input_size: plan_keep_counts(model, args.variant, args.ratio)),
    table=Table(table, archs={"cifar": ["vgg16_mlp", "resnet56", "resnet110"], "imagenet": ["resnet34"]},
                epochs={"cifar": 160, "imagenet": 90}, ft_epochs={"cifar": 40, "imagenet": 20},
                flags=lambda p: p.add_argument("--variants", default="", help="the paper's variants to run (default "
                                                                              "all of the model's: A, or A and B)")),
)
