"""Soft Filter Pruning: train while zeroing the lowest-L2-norm filters after every epoch
(He et al. 2018, Alg. 1).

--rate P is the fraction of filters zeroed in every conv layer (default 0.3; the paper uses
0.1 to 0.4). --rate 0 trains the plain baseline. Recipe of the SFP code: 200 epochs, batch
128, Nesterov SGD momentum 0.9, weight decay 5e-4, lr 0.01 for the first epoch, then 0.1,
x0.2 at epochs 60, 120, 160. Models: resnet20, resnet32, resnet56, resnet110.
"""
from common.arms import baseline_main
from common.cli import fraction
from common.pruning.sfp import RECIPE, SoftFilterPruningHook


def add_args(p):
    p.add_argument("--rate", type=fraction, default=0.3,
                   help="fraction of filters zeroed per conv layer, P in [0, 1) (default 0.3); 0 = baseline")


def make_hooks(args, model):
    return [SoftFilterPruningHook(model, args.rate)] if args.rate > 0 else []


if __name__ == "__main__":
    baseline_main("soft-filter", arch="resnet56", add_args=add_args, make_hooks=make_hooks,
                  arm=lambda args: "sfp" if args.rate > 0 else "baseline",
                  variant=lambda args: f"r{args.rate:g}" if args.rate > 0 else None, **RECIPE)
