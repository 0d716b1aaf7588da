"""Fine-tune a slimmed network: 40 epochs at a constant lr of 0.001 (the original code).

--sparsity LAMBDA keeps the L1 penalty on (the original's -sr); off by default.
"""
from common.arms import finetune_main
from common.cli import non_negative_float
from common.pruning.slimming import SparsityHook


def add_args(p):
    p.add_argument("--sparsity", "--lambda", type=non_negative_float, default=0.0, metavar="LAMBDA",
                   help="L1 penalty on BN scales during fine-tuning (default 0)")


def make_hooks(args, model, ckpt):
    return [SparsityHook(model, args.sparsity)] if args.sparsity > 0 else []


if __name__ == "__main__":
    finetune_main("slimming", epochs=40, lr=0.001, schedule="constant", add_args=add_args, make_hooks=make_hooks)
