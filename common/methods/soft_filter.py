"""Soft Filter Pruning (He, Kang, Dong, Fu, Yang, IJCAI 2018): the declaration.
The algorithm is ``common/pruning/sfp.py``."""

from common.cli import fraction
from common.errors import UserError
from common.methods.base import Method, Pruned, Pruning, Table, Training
from common.pruning.sfp import SoftFilterPruningHook, remove_zero_filters


def resolve(args, ckpt):
    if ckpt["arm"] != "sfp":
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} run, not trained with soft filter pruning; "
                        f"train with main.py --rate P first")


def prune(args, model, ckpt, data):
    pruned, mask, report = remove_zero_filters(model)
    report["rate"] = ckpt["args"].get("rate")
    return Pruned(pruned, report, mask)


def table(t):
    """Baseline, then SFP training at every rate (paper: 10/20/30%, and 40% for ResNet-56)."""
    for seed in t.seeds:
        for arch in t.archs:
            t.train(arch, seed, flags=["--rate", "0"])
            rates = (t.opts.rates.split() if t.opts.rates else ["0.3"] if t.tree == "imagenet" else
                     ["0.1", "0.2", "0.3"] + ["0.4"] * arch.endswith("resnet56"))
            for r in rates:
                sfp = t.train(arch, seed, arm="sfp", variant=f"r{float(r):g}", flags=["--rate", r])
                t.retrain(t.prune(sfp, f"r{float(r):g}"))


METHOD = Method(
    name="soft-filter", title="Soft Filter Pruning for Accelerating Deep CNNs (He et al., IJCAI 2018)",
    trainings={"main": Training(
        flags=lambda p: p.add_argument("--rate", type=fraction, default=0.3,
                                       help="fraction of filters zeroed per conv layer, P in [0, 1) (default 0.3); "
                                            "0 = baseline"),
        hooks=lambda args, model: [SoftFilterPruningHook(model, args.rate)] if args.rate > 0 else [],
        arm=lambda args: "sfp" if args.rate > 0 else "baseline",
        variant=lambda args: f"r{args.rate:g}" if args.rate > 0 else None)},
    pruning=Pruning(run=prune, resolve=resolve, variant=lambda args, ckpt: ckpt["meta"]["variant"]),
    table=Table(table, archs={"cifar": ["sfp_resnet20", "sfp_resnet32", "sfp_resnet56", "sfp_resnet110"],
                              "imagenet": ["resnet50"]},
                epochs={"cifar": 200, "imagenet": 100}, ft_epochs=0,
                flags=lambda p: p.add_argument("--rates", default="", help="SFP rates P (default 0.1 0.2 0.3, "
                                                                            "and 0.4 for ResNet-56)")),
)
