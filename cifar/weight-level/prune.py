"""Prune a trained model by weight magnitude (Han et al. 2015, as in Liu et al. 2019, Sec. 4.3).

--percent p masks out the fraction p of all conv weights with the smallest |w|, by one global
threshold (--layerwise: p inside every conv instead); --include-linear prunes linear weights
too. The pruned checkpoint is the full network with its keep-mask.
"""
from common.arms import prune_main
from common.cli import fraction
from common.pruning.magnitude import magnitude_prune


def add_args(p):
    p.add_argument("--percent", type=fraction, required=True,
                   help="fraction of the conv weights to remove, in [0, 1) (the paper: 0.3 ... 0.95)")
    p.add_argument("--layerwise", action="store_true", help="prune every layer by --percent instead of globally")
    p.add_argument("--include-linear", action="store_true", help="also prune linear weights")


def prune(args, model, ckpt, loaders):
    kinds = ("conv", "linear") if args.include_linear else ("conv",)
    mask, report = magnitude_prune(model, args.percent, kinds, "layer" if args.layerwise else "global",
                                   mask=ckpt.get("mask"))
    if report["emptied"]:
        print(f"warning: every weight of {', '.join(report['emptied'])} was pruned")
    variant = f"p{args.percent:g}" + ("-layer" if args.layerwise else "") + ("-fc" if args.include_linear else "")
    return {"model": model, "mask": mask, "variant": variant, "report": report}


if __name__ == "__main__":
    prune_main("weight-level", prune_fn=prune, add_args=add_args)
