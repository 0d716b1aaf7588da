"""Prune a trained model by filter L1 norm (Li et al. 2017, Sec. 3.1 and Table 1/2).

--variant A|B picks the paper's configuration (VGG-16-A; ResNet-56-A/B; ResNet-110-A/B);
--ratio R prunes every prunable layer by R instead (any arch).
"""
from common.arms import prune_main
from common.cli import fraction
from common.pruning.l1norm import l1_prune, plan_keep_counts


def add_args(p):
    p.add_argument("--variant", choices=("A", "B"), default=None,
                   help="the paper's pruned-A / pruned-B configuration")
    p.add_argument("--ratio", type=fraction, default=None,
                   help="uniform fraction of filters to remove from every prunable layer, in [0, 1)")


def prune(args, model, ckpt, loaders):
    if args.variant is None and args.ratio is None:
        args.variant = "A"
    if args.variant is not None and args.ratio is not None:
        from common.errors import UserError
        raise UserError("give --variant or --ratio, not both")
    counts = plan_keep_counts(model, args.variant, args.ratio)
    pruned, kept = l1_prune(model, counts)
    sizes = {g.name: g.size for g in model.channel_groups()}
    report = {"layers": {name: {"kept": len(idx), "of": sizes[name]} for name, idx in kept.items()}}
    variant = args.variant if args.ratio is None else f"r{args.ratio:g}"
    return {"model": pruned, "variant": variant, "report": report}


if __name__ == "__main__":
    prune_main("l1-norm", prune_fn=prune, add_args=add_args)
