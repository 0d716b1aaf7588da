"""Network Slimming, step 2: one global threshold over all BN scales, then the smaller network.

--percent P removes the fraction P of all prunable channels, those of smallest |gamma|
(default, the paper's: 0.7 for VGG-19 on CIFAR-10, 0.5 on CIFAR-100; 0.4 for PreResNet-164
and DenseNet-40, which the paper also prunes at 0.6). --min-keep F keeps at least
ceil(F x width) channels (and always one) in every layer; result.json lists the layers
that hit this floor. A checkpoint trained without the sparsity penalty is refused unless
--force is given.
"""
import sys

from common.arms import prune_main
from common.cli import fraction
from common.errors import UserError
from common.pruning.slimming import paper_percents, slimming_prune


def add_args(p):
    p.add_argument("--percent", type=fraction, default=None,
                   help="fraction of channels to remove, in [0, 1) (default: the paper's for the arch)")
    p.add_argument("--min-keep", type=fraction, default=0.0,
                   help="every layer keeps at least this fraction of its channels (and at least one)")
    p.add_argument("--force", action="store_true", help="prune a checkpoint that was not sparsity-trained")


def check_sparsity_trained(args, model, ckpt):
    lam = ckpt["args"].get("sparsity")
    if ckpt["arm"] == "sparsity" and lam:
        return
    what = (f"{args.checkpoint} was not sparsity-trained ({ckpt['arm']} run, sparsity {lam or 0}): its BN "
            f"scales carry no L1 penalty, so the global threshold is not the paper's")
    if not args.force:
        raise UserError(f"{what}; train it with cifar/slimming/main.py --sparsity LAMBDA, or pass --force")
    print(f"warning: {what}; pruning anyway (--force)", file=sys.stderr)


def prune(args, model, ckpt, loaders):
    if args.percent is None:
        args.percent = paper_percents(model.arch, ckpt["dataset"])[0]
    pruned, report = slimming_prune(model, args.percent, args.min_keep)
    if report["floor_hit"]:
        print(f"{len(report['floor_hit'])} layer(s) kept by the floor: {', '.join(report['floor_hit'])}")
    return {"model": pruned, "variant": f"p{args.percent:g}", "report": report}


if __name__ == "__main__":
    prune_main("slimming", prune_fn=prune, add_args=add_args, prepare_fn=check_sparsity_trained)
