"""Sparse Structure Selection: train a ResNet with a scale lambda on every residual branch and
an L1 penalty gamma on the scales, updated by accelerated proximal gradient (Huang & Wang 2018).

--gamma G: the penalty (default 0.05, see the README; larger removes more blocks); --gamma 0
trains the plain baseline without scales. The CIFAR recipe of the paper's other CIFAR
methods: 160 epochs, batch 64, SGD lr 0.1 x0.1 at epochs 80 and 120, momentum 0.9, weight
decay 1e-4 (none on lambda). Models: resnet56, preresnet164 (any ResNet or PreResNet).
"""
from common.arms import baseline_main
from common.cli import non_negative_float
from common.pruning.sss import DEFAULT_GAMMA, SparseStructureHook


def add_args(p):
    p.add_argument("--gamma", type=non_negative_float, default=DEFAULT_GAMMA,
                   help=f"L1 penalty on the block scales (default {DEFAULT_GAMMA}); 0 = plain baseline")
    p.add_argument("--lambda-momentum", type=non_negative_float, default=0.9,
                   help="momentum mu of the proximal update of the scales (default 0.9)")


def make_hooks(args, model):
    return [SparseStructureHook(model, args.gamma, args.lambda_momentum)] if args.gamma > 0 else []


if __name__ == "__main__":
    baseline_main("sss", arch="resnet56", epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4,
                  add_args=add_args, make_hooks=make_hooks,
                  arm=lambda args: "sss" if args.gamma > 0 else "baseline",
                  variant=lambda args: f"g{args.gamma:g}" if args.gamma > 0 else None)
