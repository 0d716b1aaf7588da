"""Prune a trained model with ThiNet (Luo et al. 2017), layer by layer (common/pruning/thinet.py).

Takes a baseline of this folder or of cifar/l1-norm (the same recipe). Per pruned layer it
prints the channels kept, the relative reconstruction error of the next layer's output before
and after the least-squares scaling, and the time taken; all of it also lands in result.json.
"""
import argparse
import time

from common.arms import prune_main
from common.cli import non_negative_int, positive_float, positive_int
from common.engine import Trainer, TrainConfig
from common.data import balanced_sample as training_sample
from common.pruning.thinet import thinet_plan, thinet_prune


def rates(text):
    """One compression rate, or one per pruned layer (comma-separated), each in (0, 1)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers in (0, 1), got {text!r}") from None
    bad = [v for v in values if not 0.0 < v < 1.0]
    if bad:
        raise argparse.ArgumentTypeError(f"the fraction of channels kept must lie in (0, 1), got {bad[0]:g}")
    return values


def add_args(p):
    p.add_argument("--r", type=rates, default=[0.5],
                   help="compression rate r = fraction of channels kept, in (0, 1): one value for every pruned "
                        "layer or one per layer, comma-separated (default 0.5: ThiNet-Conv / ThiNet-50)")
    p.add_argument("--layers", choices=("paper", "all"), default="paper",
                   help="paper: VGG convs outside the last stage (VGG-16: conv1_1..conv4_3), ResNet inner convs; "
                        "all: every VGG conv")
    p.add_argument("--images", type=positive_int, default=1000,
                   help="training images sampled, class-balanced (default 1000: 100 per CIFAR-10 class, "
                        "the paper's 10 per class on CIFAR-100)")
    p.add_argument("--locations", type=positive_int, default=None,
                   help="random (filter, position) pairs per image and layer (default 10, as the paper)")
    p.add_argument("--finetune-iters", type=non_negative_int, default=0,
                   help="SGD steps after each pruned layer (paper: ~1 epoch; default 0 = none)")
    p.add_argument("--finetune-lr", type=positive_float, default=1e-3, help="lr of those steps (paper 1e-3)")


def check(args, model, input_size):
    thinet_plan(model, args.r[0] if len(args.r) == 1 else args.r, args.layers, args.locations, input_size)


def prune(args, model, ckpt, loaders):
    device = next(model.parameters()).device
    seed = ckpt["meta"].get("seed", 0) if args.seed is None else args.seed
    t0 = time.perf_counter()
    batches = training_sample(args.dataset or ckpt["dataset"], args.data_dir, args.images, args.batch_size,
                              seed, device)

    done = []

    def finetune(m):  # ThiNet's short fine-tune between layers (momentum 0.9, wd 5e-4, constant lr)
        config = TrainConfig(epochs=1, lr=args.finetune_lr, weight_decay=5e-4, schedule="constant", progress=False)
        trainer = Trainer(m, loaders[0], loaders[1], config, run_dir=".", meta={}, device=device)
        trainer.epoch = len(done) * args.finetune_iters // len(loaders[0])   # fresh batches after every layer
        loss = trainer.train_steps(args.finetune_iters)
        done.append(loss)
        print(f"  fine-tuned {args.finetune_iters} steps at lr {args.finetune_lr:g}, mean loss {loss:.4f}")
        return m

    r = args.r[0] if len(args.r) == 1 else args.r
    pruned, layers = thinet_prune(model, batches, r=r, layers=args.layers, locations=args.locations, seed=seed,
                                  finetune=finetune if args.finetune_iters else None)
    variant = "r" + "-".join(f"{v:g}" for v in args.r) + ("-all" if args.layers == "all" else "")
    report = {"layers": layers, "images": args.images, "locations": args.locations or "default",
              "finetune_iters": args.finetune_iters, "seconds": round(time.perf_counter() - t0, 2)}
    return {"model": pruned, "variant": variant, "report": report}


if __name__ == "__main__":
    prune_main("thinet", prune_fn=prune, add_args=add_args, check_fn=check, accept_methods=("l1-norm", "regression"))
