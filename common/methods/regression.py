"""Channel pruning by LASSO regression + least squares (He, Zhang, Sun, ICCV 2017): the declaration.
The algorithm is ``common/pruning/regression.py``."""

import time

from common.cli import number_type, positive_float, positive_int
from common.methods.base import Method, Pruned, Pruning, Table
from common.pruning.regression import LASSO_ROWS, check_locations, plan_widths, regression_prune

speedup = number_type(float, lambda v: v > 1.0, "the target speed-up must be > 1 (FLOPs divided by it)")
_ridge_value = number_type(float, lambda v: v >= 0, "the ridge penalty must be >= 0")


def ridge(text):
    """'auto' (chosen on held-out samples) or a penalty >= 0."""
    return text if text == "auto" else _ridge_value(text)


def prune_flags(p):
    p.add_argument("--speedup", type=speedup, default=2.0,
                   help="target FLOPs reduction of the whole network, > 1 (default 2, the paper's 2x)")
    p.add_argument("--layers", choices=("paper", "all"), default="paper",
                   help="paper: VGG convs outside the last stage (VGG-16: conv1_1..conv4_3), ResNet inner convs; "
                        "all: every VGG conv")
    p.add_argument("--deep-ratio", type=positive_float, default=1.5,
                   help="VGG: fraction kept in the deepest pruned stage / fraction kept before it (paper 1.5)")
    p.add_argument("--images", type=positive_int, default=1000,
                   help="training images sampled, class-balanced (default 1000; the paper: 5000 ImageNet images)")
    p.add_argument("--locations", type=positive_int, default=None,
                   help="random output positions per image and layer (default 10, as the paper; a smaller "
                        "map gives all its positions)")
    p.add_argument("--lasso-rows", type=positive_int, default=LASSO_ROWS,
                   help=f"sample rows the LASSO is fitted on (default {LASSO_ROWS}, as the original code)")
    p.add_argument("--ridge", type=ridge, default="auto",
                   help="penalty pulling the reconstructed weights toward the original ones, x mean diag(X^T X): "
                        "auto = chosen on held-out sample images (default), 0 = the paper's plain least squares")


def check(args, model, input_size):
    check_locations(model, plan_widths(model, args.speedup, input_size, args.layers, args.deep_ratio),
                    args.locations, input_size)


def prune(args, model, ckpt, data):
    widths = plan_widths(model, args.speedup, data.input_size, args.layers, args.deep_ratio)
    t0 = time.perf_counter()
    pruned, layers = regression_prune(model, data.sample(args.images), widths=widths, locations=args.locations,
                                      lasso_rows=args.lasso_rows, ridge=args.ridge, seed=args.seed)
    return Pruned(pruned, {"layers": layers, "speedup_target": args.speedup, "images": args.images,
                           "locations": args.locations or "default", "seconds": round(time.perf_counter() - t0, 2)})


def table(t):
    """LASSO channel pruning at each --speedups target, from the L1-norm baseline (shared)."""
    for seed in t.seeds:
        for arch in t.archs:
            base = t.train(arch, seed, method="l1-norm")
            for s in t.opts.speedups.split():
                t.retrain(t.prune(base, f"{s}x", ["--speedup", s, "--images", t.opts.images]))


def table_flags(p):
    p.add_argument("--speedups", default="2", help="target FLOPs reductions, one variant each (paper: 2, 4, 5)")
    p.add_argument("--images", default="1000", help="sample images per pruning (default 1000)")


METHOD = Method(
    name="regression", title="Channel Pruning for Accelerating Very Deep Neural Networks (He et al., ICCV 2017)",
    pruning=Pruning(run=prune, flags=prune_flags, check=check, accepts=("l1-norm", "thinet"),
                    variant=lambda args, ckpt: f"{args.speedup:g}x" + ("-all" if args.layers == "all" else "")),
    table=Table(table, archs={"cifar": ["vgg16_mlp", "resnet56"]}, flags=table_flags),
)
