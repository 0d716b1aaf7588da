"""Prune a trained model by LASSO channel selection + least-squares reconstruction (He et al. 2017),
layer by layer (common/pruning/regression.py), to a target FLOPs speed-up.

Takes a baseline of this folder or of cifar/l1-norm (the same recipe). Per pruned layer it
prints the channels kept, the relative reconstruction error of the layer's output before and
after least squares, and the time taken; all of it also lands in result.json.
"""
import time

from common.arms import model_input_size, prune_main
from common.cli import number_type, positive_float, positive_int
from common.data import balanced_sample as training_sample
from common.pruning.regression import LASSO_ROWS, check_locations, plan_widths, regression_prune

speedup = number_type(float, lambda v: v > 1.0, "the target speed-up must be > 1 (FLOPs divided by it)")


_ridge_value = number_type(float, lambda v: v >= 0, "the ridge penalty must be >= 0")


def ridge(text):
    """'auto' (chosen on held-out samples) or a penalty >= 0."""
    return text if text == "auto" else _ridge_value(text)


def add_args(p):
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


def prune(args, model, ckpt, loaders):
    device = next(model.parameters()).device
    dataset = args.dataset or ckpt["dataset"]
    seed = ckpt["meta"].get("seed", 0) if args.seed is None else args.seed
    widths = plan_widths(model, args.speedup, model_input_size(dataset), args.layers, args.deep_ratio)
    t0 = time.perf_counter()
    batches = training_sample(dataset, args.data_dir, args.images, args.batch_size, seed, device)
    pruned, layers = regression_prune(model, batches, widths=widths, locations=args.locations,
                                      lasso_rows=args.lasso_rows, ridge=args.ridge, seed=seed)
    variant = f"{args.speedup:g}x" + ("-all" if args.layers == "all" else "")
    report = {"layers": layers, "speedup_target": args.speedup, "images": args.images,
              "locations": args.locations or "default", "seconds": round(time.perf_counter() - t0, 2)}
    return {"model": pruned, "variant": variant, "report": report}


if __name__ == "__main__":
    prune_main("regression", prune_fn=prune, add_args=add_args, check_fn=check, accept_methods=("l1-norm", "thinet"))
